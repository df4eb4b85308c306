package shell

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"labd/config"
	"labd/internal/sessions"
)

// errNotAllowed is what a connection outside shell.allow_connect gets.
var errNotAllowed = errors.New("not allowed from the lab shell")

// connectRules are the addresses the shell's clients may reach: the
// config's shell.allow_connect, else labd's own listening sockets (a
// wildcard listener stands for the loopback addresses and the public
// address).
func (s *Shell) connectRules(network string) []config.ConnectRule {
	var out []config.ConnectRule
	if c := s.env.Deps.Config; c != nil && len(c.Shell.AllowConnect) > 0 {
		for _, e := range c.Shell.AllowConnect {
			if r, err := config.ParseConnectRule(e); err == nil {
				out = append(out, r)
			}
		}
		return out
	}
	for _, ep := range s.env.Deps.Endpoints.List() {
		if ep.Network != network || ep.State == "stopped" {
			continue
		}
		ap, err := netip.ParseAddrPort(ep.Addr)
		if err != nil {
			continue
		}
		port := int(ap.Port())
		if !ap.Addr().IsUnspecified() {
			out = append(out, config.ConnectRule{Prefix: netip.PrefixFrom(ap.Addr().Unmap(), ap.Addr().Unmap().BitLen()), Port: port})
			continue
		}
		out = append(out,
			config.ConnectRule{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Port: port},
			config.ConnectRule{Prefix: netip.MustParsePrefix("::1/128"), Port: port})
		if c := s.env.Deps.Config; c != nil && c.Server.PublicAddress != "" {
			if a, err := netip.ParseAddr(c.Server.PublicAddress); err == nil {
				out = append(out, config.ConnectRule{Prefix: netip.PrefixFrom(a, a.BitLen()), Port: port})
			}
		}
	}
	return out
}

// lookup resolves a host name the way the lab expects: localhost and
// labd's own names are this host.
func (s *Shell) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	own := host == "localhost" || host == s.hostname()
	if c := s.env.Deps.Config; c != nil && (host == c.FQDN() || host == c.Server.Hostname) {
		own = true
	}
	if own {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, errorf("could not resolve %s", host)
	}
	return addrs, nil
}

// dial is the one way out of the lab shell: it applies allow_connect and
// records the connection as a session of the user. network is "tcp" or
// "udp"; what names the client ("nc", "curl") in the session list.
func (s *Shell) dial(ctx context.Context, network, host, port, what string) (net.Conn, error) {
	p, err := net.LookupPort(network, port)
	if err != nil || p == 0 {
		return nil, errorf("%s: not a port number", port)
	}
	addrs, err := s.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	rules := s.connectRules(network)
	var lastErr error = errorf("%s port %d: %w (allowed: labd's own services; see ss -l)", host, p, errNotAllowed)
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, uint16(p))
		ok := false
		for _, r := range rules {
			if r.Allows(ap) {
				ok = true
				break
			}
		}
		if !ok {
			continue
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := d.DialContext(ctx, network, ap.String())
		if err != nil {
			lastErr = err
			continue
		}
		return s.record(conn, network, what), nil
	}
	return nil, lastErr
}

// record makes the connection a session of the user, seen by ps, kill
// and the dashboard.
func (s *Shell) record(conn net.Conn, network, what string) net.Conn {
	reg := s.env.Deps.Sessions
	if reg == nil {
		return conn
	}
	if network == "tcp" {
		rc := sessions.Wrap(reg, "shell-"+strings.Fields(what)[0], conn)
		sess := rc.Session()
		sess.SetUser(s.env.User)
		sess.SetAttr("command", what)
		sess.Notef("outbound from %s's lab shell: what labd sends is shown as from the client", s.env.User)
		return rc
	}
	sess := reg.Open("shell-"+strings.Fields(what)[0], network, conn.LocalAddr().String(), conn.RemoteAddr().String())
	sess.SetUser(s.env.User)
	sess.SetAttr("command", what)
	sess.SetKill(func() { conn.Close() })
	return &closeNotify{Conn: conn, onClose: func() { sess.Close("closed") }}
}

type closeNotify struct {
	net.Conn
	onClose func()
}

func (c *closeNotify) Close() error {
	err := c.Conn.Close()
	c.onClose()
	return err
}

package ftp

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"labd/internal/sessions"
)

// Active mode (PORT, EPRT) is labd's, not the library's: the library
// dials the client itself, on a connection labd never sees, so its LIST
// lines kept the library's constant "ftp ftp" owner and the connection was
// in no session. ctrlConn answers PORT/EPRT and hands the library an EPSV
// in their place; the library then "accepts" the data connection on the
// passive listener labd wraps (dataListener), which dials the client
// instead. The library cannot tell: it sees a data connection from the
// client's address, as with passive mode.

// activeTarget is a pending PORT/EPRT of one client.
type activeTarget struct {
	addr *net.TCPAddr
	verb string // PORT or EPRT, for the reply
}

// parseActive parses the argument of PORT (RFC 959 h1,h2,h3,h4,p1,p2) or
// EPRT (RFC 2428 <d>af<d>address<d>port<d>). It returns the address, or
// the reply for a bad argument.
func parseActive(verb, arg string) (*net.TCPAddr, string) {
	if verb == "PORT" {
		bad := "501 Syntax: PORT h1,h2,h3,h4,p1,p2 (your address, port = p1*256+p2).\r\n"
		f := strings.Split(arg, ",")
		if len(f) != 6 {
			return nil, bad
		}
		var b [6]byte
		for i, s := range f {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8)
			if err != nil {
				return nil, bad
			}
			b[i] = byte(n)
		}
		port := int(b[4])<<8 | int(b[5])
		if port == 0 {
			return nil, bad
		}
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(port))), ""
	}
	bad := "501 Syntax: EPRT |1|IPv4 address|port| or |2|IPv6 address|port|.\r\n"
	if len(arg) < 2 || arg[0] < 33 || arg[0] > 126 {
		return nil, bad
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return nil, bad
	}
	if f[1] != "1" && f[1] != "2" {
		return nil, "522 Network protocol not supported, use (1,2)\r\n"
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Zone() != "" || (f[1] == "1") != ip.Is4() {
		return nil, bad
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || port == 0 {
		return nil, bad
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), ""
}

// answerActive answers PORT/EPRT, or returns "" with the line for the
// library replaced by EPSV.
func (c *ctrlConn) answerActive(verb, arg string) string {
	addr, bad := parseActive(verb, arg)
	if bad != "" {
		return bad
	}
	// RFC 2577 (bounce attacks): data connections only to the client.
	if ctl, err := netip.ParseAddrPort(c.Conn.RemoteAddr().String()); err != nil || ctl.Addr().Unmap() != addr.AddrPort().Addr().Unmap() {
		return "501 " + verb + " must name your own address (" + sessions.Host(c.Conn.RemoteAddr().String()) + "): data connections to another host are refused (RFC 2577).\r\n"
	}
	c.client.active.Store(&activeTarget{addr: addr, verb: verb})
	c.fakeEPSV.Store(true)
	c.substitute = []byte("EPSV\r\n")
	return ""
}

// activeReply rewrites the library's answer to the EPSV that stood in for
// PORT/EPRT: 229 becomes the 200 the client waits for.
func (c *ctrlConn) activeReply(p []byte) ([]byte, bool) {
	if !c.fakeEPSV.Swap(false) {
		return p, false
	}
	t := c.client.active.Load()
	if t == nil || !strings.HasPrefix(string(p), "229 ") {
		c.client.active.Store(nil)
		return p, false
	}
	return []byte("200 " + t.verb + " command successful.\r\n"), true
}

// activeClient returns the client whose PORT/EPRT this passive listener
// stands for, and takes its target.
func (l *dataListener) activeClient() (*client, *activeTarget) {
	_, lp, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return nil, nil
	}
	port, _ := strconv.Atoi(lp)
	var cl *client
	var t *activeTarget
	l.svc.clients.Range(func(_, v any) bool {
		c := v.(*client)
		if int(c.pasvPort.Load()) == port {
			if t = c.active.Swap(nil); t != nil {
				cl = c
				return false
			}
		}
		return true
	})
	return cl, t
}

// dialActive opens the data connection of a PORT/EPRT, from port 20 with
// ftp.active_from_port_20 (as RFC 959 has it; needs root).
func (l *dataListener) dialActive(cl *client, t *activeTarget) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	if l.svc.cfg.ActiveFromPort20 {
		d.LocalAddr = &net.TCPAddr{Port: 20}
		d.Control = ftpserver.Control
	}
	c, err := d.Dial("tcp", t.addr.String())
	if err != nil {
		cl.note("active data connection to %s failed: %v", t.addr, err)
		return nil, err
	}
	return l.register(c, cl, "active"), nil
}

// register makes a data connection an "ftp-data" session tied to its
// control session, in TLS after PROT P, with LIST lines naming the user.
func (l *dataListener) register(c net.Conn, match *client, mode string) net.Conn {
	rc := sessions.Wrap(l.svc.deps.Sessions, "ftp-data", c)
	sess := rc.Session()
	sess.SetAttr("mode", mode)
	if match == nil {
		return rc
	}
	if u := match.userName(); u != "" {
		sess.SetUser(u)
	}
	if match.sess != nil {
		sess.SetAttr("control_session", strconv.FormatUint(match.sess.ID(), 10))
		match.note("%s data connection with %s (session %d)", mode, c.RemoteAddr(), sess.ID())
	}
	var dc net.Conn = rc
	if match.protP.Load() && l.svc.tls != nil {
		dc = tls.Server(rc, l.svc.tls)
	}
	return &ownerConn{Conn: dc, client: match}
}

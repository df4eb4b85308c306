package shell

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"labd/internal/sessions"
)

// loggedIn lists the live SSH and Telnet sessions with a user.
func (s *Shell) loggedIn() []sessions.Info {
	if s.env.Deps.Sessions == nil {
		return nil
	}
	var out []sessions.Info
	for _, in := range s.env.Deps.Sessions.Live() {
		if (in.Proto == "ssh" || in.Proto == "telnet") && in.User != "" {
			out = append(out, in)
		}
	}
	return out
}

func cmdWho(s *Shell, c *call) int {
	for _, in := range s.loggedIn() {
		me := ""
		if s.env.Session != nil && s.env.Session.ID() == in.ID {
			me = "  <- you"
		}
		fmt.Fprintf(c.out, "%-10s %-7s %s (%s)%s\n", in.User, in.Proto, in.Start.Format("2006-01-02 15:04"), in.Remote, me)
	}
	return 0
}

// socket is one line of ss/netstat.
type socket struct {
	netid, state, local, peer, process string
}

func (s *Shell) sockets(c *call) ([]socket, bool) {
	fl, _, ok := c.flags("tulanpeor4")
	if !ok {
		return nil, false
	}
	tcp, udp := fl['t'], fl['u']
	if !tcp && !udp {
		tcp, udp = true, true
	}
	// Like ss: connections by default, -l listeners only, -a both.
	listening, established := fl['l'] || fl['a'], !fl['l'] || fl['a']
	var out []socket
	want := func(netw string) bool { return (netw == "tcp" && tcp) || (netw == "udp" && udp) }
	if listening {
		eps := s.env.Deps.Endpoints.List()
		sort.SliceStable(eps, func(i, j int) bool { return eps[i].Network > eps[j].Network })
		for _, ep := range eps {
			if !want(ep.Network) || ep.State == "stopped" {
				continue
			}
			st := "LISTEN"
			if ep.Network == "udp" {
				st = "UNCONN"
			}
			out = append(out, socket{ep.Network, st, ep.Addr, peerWildcard(ep.Addr), ep.Service})
		}
	}
	if established && s.env.Deps.Sessions != nil {
		for _, in := range s.env.Deps.Sessions.Live() {
			if !want(in.Transport) {
				continue
			}
			proc := in.Proto
			if in.User != "" {
				proc += " user=" + in.User
			}
			if in.TLS {
				proc += " tls"
			}
			out = append(out, socket{in.Transport, "ESTAB", in.Local, in.Remote, proc})
		}
	}
	return out, true
}

func peerWildcard(addr string) string {
	if strings.HasPrefix(addr, "[") {
		return "[::]:*"
	}
	return "0.0.0.0:*"
}

func cmdSS(s *Shell, c *call) int {
	socks, ok := s.sockets(c)
	if !ok {
		return 2
	}
	fmt.Fprintf(c.out, "%-6s %-7s %-6s %-6s %-22s %-22s %s\n", "Netid", "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Process")
	for _, k := range socks {
		fmt.Fprintf(c.out, "%-6s %-7s %-6d %-6d %-22s %-22s %s\n", k.netid, k.state, 0, 0, k.local, k.peer, k.process)
	}
	return 0
}

func cmdNetstat(s *Shell, c *call) int {
	socks, ok := s.sockets(c)
	if !ok {
		return 2
	}
	fmt.Fprintln(c.out, s.t("Active Internet connections (labd's own sockets)"))
	fmt.Fprintf(c.out, "%-5s %-6s %-6s %-23s %-23s %-12s %s\n", "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State", "Program")
	for _, k := range socks {
		st := k.state
		switch st {
		case "ESTAB":
			st = "ESTABLISHED"
		case "UNCONN":
			st = ""
		}
		fmt.Fprintf(c.out, "%-5s %-6d %-6d %-23s %-23s %-12s %s\n", k.netid, 0, 0, k.local, k.peer, st, k.process)
	}
	return 0
}

// dnsServer returns labd's own DNS address.
func (s *Shell) dnsServer(c *call) (string, bool) {
	ep, ok := s.env.Deps.Endpoints.Find("dns", "udp")
	if !ok {
		c.failf("labd's DNS service is not running (dns.enabled is false, or it failed to start): nothing to ask")
		return "", false
	}
	addr := ep.Addr
	// A wildcard listener is asked on the loopback address.
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			if ip.To4() != nil {
				addr = net.JoinHostPort("127.0.0.1", p)
			} else {
				addr = net.JoinHostPort("::1", p)
			}
		}
	}
	return addr, true
}

func (s *Shell) query(c *call, server, name string, qtype uint16, tcp, recurse bool) (*dns.Msg, time.Duration, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = recurse
	cl := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	if tcp {
		cl.Net = "tcp"
	}
	r, rtt, err := cl.ExchangeContext(c.ctx, m, server)
	if err == nil && r.Truncated && !tcp {
		cl.Net = "tcp"
		r, rtt, err = cl.ExchangeContext(c.ctx, m, server)
	}
	return r, rtt, err
}

func parseType(t string) (uint16, bool) {
	q, ok := dns.StringToType[strings.ToUpper(t)]
	return q, ok
}

func cmdHost(s *Shell, c *call) int {
	var qtype uint16
	var name string
	args := c.args
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "-t" && len(args) > 1:
			t, ok := parseType(args[1])
			if !ok {
				return c.failf("invalid type: %s", args[1])
			}
			qtype = t
			args = args[2:]
		case a == "-a" || a == "-v":
			qtype = dns.TypeANY
			args = args[1:]
		case strings.HasPrefix(a, "-"):
			return c.failf("unsupported option %s (usage: %s)", a, commands["host"].usage)
		default:
			if name != "" {
				if strings.ContainsAny(a, ".:") {
					return c.failf("only labd's own DNS server can be asked")
				}
				return c.failf("usage: %s", commands["host"].usage)
			}
			name = a
			args = args[1:]
		}
	}
	if name == "" {
		return c.failf("usage: %s", commands["host"].usage)
	}
	server, ok := s.dnsServer(c)
	if !ok {
		return 1
	}
	types := []uint16{qtype}
	if ip := net.ParseIP(name); ip != nil && qtype == 0 {
		rev, _ := dns.ReverseAddr(name)
		name, types = rev, []uint16{dns.TypePTR}
	} else if qtype == 0 {
		types = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX}
	}
	found := false
	for _, t := range types {
		r, _, err := s.query(c, server, name, t, false, true)
		if err != nil {
			return c.failf("connection to %s failed: %v", server, err)
		}
		if r.Rcode != dns.RcodeSuccess {
			fmt.Fprintf(c.out, "Host %s not found: %d(%s)\n", strings.TrimSuffix(name, "."), r.Rcode, dns.RcodeToString[r.Rcode])
			return 1
		}
		for _, rr := range r.Answer {
			found = true
			fmt.Fprintln(c.out, hostLine(rr))
		}
	}
	if !found && qtype != 0 {
		fmt.Fprintf(c.out, "%s has no %s record\n", strings.TrimSuffix(name, "."), dns.TypeToString[qtype])
	}
	return 0
}

// hostLine words a record the way host(1) does.
func hostLine(rr dns.RR) string {
	n := strings.TrimSuffix(rr.Header().Name, ".")
	switch v := rr.(type) {
	case *dns.A:
		return n + " has address " + v.A.String()
	case *dns.AAAA:
		return n + " has IPv6 address " + v.AAAA.String()
	case *dns.MX:
		return fmt.Sprintf("%s mail is handled by %d %s", n, v.Preference, v.Mx)
	case *dns.CNAME:
		return n + " is an alias for " + v.Target
	case *dns.NS:
		return n + " name server " + v.Ns
	case *dns.PTR:
		return rr.Header().Name + " domain name pointer " + v.Ptr
	case *dns.TXT:
		return n + ` descriptive text "` + strings.Join(v.Txt, `" "`) + `"`
	case *dns.SOA:
		return fmt.Sprintf("%s has SOA record %s %s %d %d %d %d %d", n, v.Ns, v.Mbox, v.Serial, v.Refresh, v.Retry, v.Expire, v.Minttl)
	}
	return rr.String()
}

func cmdDig(s *Shell, c *call) int {
	var name string
	qtype := dns.TypeA
	short, tcp, recurse := false, false, true
	reverse := false
	for i := 0; i < len(c.args); i++ {
		a := c.args[i]
		switch {
		case a == "+short":
			short = true
		case a == "+tcp" || a == "+vc":
			tcp = true
		case a == "+norecurse" || a == "+norec":
			recurse = false
		case a == "+recurse" || a == "+rec":
			recurse = true
		case strings.HasPrefix(a, "+"):
			// Other display options are accepted and ignored.
		case strings.HasPrefix(a, "@"):
			srv := a[1:]
			if ep, ok := s.env.Deps.Endpoints.Find("dns", "udp"); !ok || (srv != "localhost" && !strings.HasPrefix(ep.Addr, srv)) {
				if net.ParseIP(srv) == nil || !net.ParseIP(srv).IsLoopback() {
					return c.failf("only labd's own DNS server can be asked (drop %s)", a)
				}
			}
		case a == "-x" && i+1 < len(c.args):
			i++
			rev, err := dns.ReverseAddr(c.args[i])
			if err != nil {
				return c.failf("'%s' is not an IP address", c.args[i])
			}
			name, qtype, reverse = rev, dns.TypePTR, true
		case a == "-t" && i+1 < len(c.args):
			i++
			t, ok := parseType(c.args[i])
			if !ok {
				return c.failf("invalid type: %s", c.args[i])
			}
			qtype = t
		case strings.HasPrefix(a, "-"):
			return c.failf("unsupported option %s (usage: %s)", a, commands["dig"].usage)
		default:
			// dig MX lab.test: a type before the name.
			if t, ok := parseType(a); ok && name == "" && i+1 < len(c.args) && !strings.Contains(a, ".") {
				qtype = t
				continue
			}
			if t, ok := parseType(a); ok && name != "" && !reverse {
				qtype = t
				continue
			}
			if name != "" {
				if t, ok := parseType(a); ok {
					qtype = t
					continue
				}
				return c.failf("unexpected argument %s", a)
			}
			name = a
		}
	}
	if name == "" {
		name = "."
		qtype = dns.TypeNS
	}
	server, ok := s.dnsServer(c)
	if !ok {
		return 1
	}
	r, rtt, err := s.query(c, server, name, qtype, tcp, recurse)
	if err != nil {
		fmt.Fprintf(c.out, ";; communications error to %s: %v\n", server, err)
		return 9
	}
	if short {
		for _, rr := range r.Answer {
			f := strings.SplitN(rr.String(), "\t", 5)
			fmt.Fprintln(c.out, f[len(f)-1])
		}
		return 0
	}
	fmt.Fprintf(c.out, "\n; <<>> labd dig <<>> %s %s\n", name, dns.TypeToString[qtype])
	fmt.Fprintln(c.out, ";; Got answer:")
	fmt.Fprintln(c.out, strings.Replace(strings.TrimRight(r.String(), "\n"), ";; opcode:", ";; ->>HEADER<<- opcode:", 1))
	fmt.Fprintln(c.out)
	proto := "UDP"
	if tcp {
		proto = "TCP"
	}
	host, port, _ := net.SplitHostPort(server)
	fmt.Fprintf(c.out, ";; Query time: %d msec\n", rtt.Milliseconds())
	fmt.Fprintf(c.out, ";; SERVER: %s#%s(%s) (%s)\n", host, port, host, proto)
	fmt.Fprintf(c.out, ";; WHEN: %s\n", time.Now().Format("Mon Jan 02 15:04:05 MST 2006"))
	fmt.Fprintf(c.out, ";; MSG SIZE  rcvd: %s\n\n", strconv.Itoa(r.Len()))
	return 0
}

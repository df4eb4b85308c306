package dns_test

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"labd/config"
	"labd/internal/faults"
	"labd/internal/labtest"
	"labd/internal/service"
	"labd/internal/sessions"
	labdns "labd/services/dns"
)

// rawQuery sends b over UDP and returns the answer's bytes.
func rawQuery(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return buf[:n]
}

// dnsSession waits for the closed DNS session whose query transcript
// contains text.
func dnsSession(t *testing.T, reg *sessions.Registry, text string) (sessions.Info, []sessions.Entry) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, in := range reg.List() {
			if in.Proto != "dns" || in.Open {
				continue
			}
			s, ok := reg.Get(in.ID)
			if !ok {
				continue
			}
			tr := s.Transcript()
			if len(tr) > 0 && strings.Contains(string(tr[0].Data), text) {
				return in, tr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no closed session with %q", text)
	return sessions.Info{}, nil
}

// startWithFaults starts the DNS service with a fault list of its own and
// no rate limit for loopback clients, and returns its deps and UDP address.
func startWithFaults(t *testing.T) (service.Deps, string) {
	t.Helper()
	cfg := labtest.Config(t)
	cfg.DNS.RateLimitExempt = []string{"127.0.0.0/8"}
	deps := labtest.Deps(t, cfg)
	deps.Faults = faults.New(0)
	s, err := labdns.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	return deps, labtest.Addr(t, labtest.Start(t, s), "dns", "udp")
}

// TestPackedAnswers: a query whose bytes but for the ID were answered
// before gets the same answer with its own ID (from the packed answers),
// and its session is recorded as the first one was; faults switched on
// afterwards still apply.
func TestPackedAnswers(t *testing.T) {
	deps, addr := startWithFaults(t)

	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.lab.test.", dns.TypeA},
		{"lab.test.", dns.TypeMX},
		{"nope.lab.test.", dns.TypeA},
		{"lab.test.", dns.TypeNS}, // glue in the additional section
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, false)
		var answers [][]byte
		var infos []sessions.Info
		var transcripts [][]sessions.Entry
		for _, id := range []uint16{1001, 1002, 1003} {
			m.Id = id
			b, _ := m.Pack()
			a := rawQuery(t, addr, b)
			if len(a) < 12 || a[0] != byte(id>>8) || a[1] != byte(id) {
				t.Fatalf("%s: answer % x does not carry the ID %d", q.name, a, id)
			}
			answers = append(answers, a)
			in, tr := dnsSession(t, deps.Sessions, q.name+" IN "+dns.TypeToString[q.qtype]+" id="+itoa(id)+" ")
			infos = append(infos, in)
			transcripts = append(transcripts, tr)
		}
		for i := 1; i < len(answers); i++ {
			if !bytes.Equal(answers[i][2:], answers[0][2:]) {
				t.Errorf("%s: answer %d differs beyond the ID", q.name, i)
			}
			a, b := infos[i], infos[0]
			if a.Result != b.Result || a.BytesIn != b.BytesIn || a.BytesOut != b.BytesOut || len(a.Attrs) != len(b.Attrs) || a.Transport != "udp" {
				t.Errorf("%s: session %d differs: %+v, first %+v", q.name, i, a, b)
			}
			for k, v := range b.Attrs {
				if a.Attrs[k] != v {
					t.Errorf("%s: session %d attribute %s = %q, first %q", q.name, i, k, a.Attrs[k], v)
				}
			}
			ta, tb := transcripts[i], transcripts[0]
			if len(ta) != 2 || len(tb) != 2 || !bytes.Equal(ta[1].Data, tb[1].Data) || !bytes.Equal(ta[1].Wire, answers[i]) || ta[0].Wire[1] != answers[i][1] {
				t.Errorf("%s: transcript %d differs from the first", q.name, i)
			}
		}
	}

	// A fault switched on after the answer was packed applies.
	if _, err := deps.Faults.Add(faults.Fault{Service: "dns", Kind: "truncate"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.lab.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.Id = 1004
	b, _ := m.Pack()
	r := new(dns.Msg)
	if err := r.Unpack(rawQuery(t, addr, b)); err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("truncate fault on a packed answer: %v", r)
	}
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }

// TestWildcardAnswersFromQueriedAddress: on a wildcard socket the answer
// leaves from the address the query went to (IP_PKTINFO / IPV6_PKTINFO),
// on the slow path and for packed answers sent in a batch; a client on a
// connected socket (as dig's) takes no answer from another address.
func TestWildcardAnswersFromQueriedAddress(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			l := startLab(t, func(c *config.Config) {
				c.DNS.Listen = []string{listen}
				c.DNS.RateLimitExempt = []string{"127.0.0.0/8"}
			})
			_, port, _ := net.SplitHostPort(l.udp)
			for _, host := range []string{"127.0.0.1", "127.0.0.2", "::1"} {
				if listen == "0.0.0.0:0" && host == "::1" {
					continue
				}
				for range 3 { // the first answer is packed, the others sent packed
					c, err := net.Dial("udp", net.JoinHostPort(host, port))
					if err != nil {
						t.Fatal(err)
					}
					m := new(dns.Msg)
					m.SetQuestion("www.lab.test.", dns.TypeA)
					m.Id = 4242
					b, _ := m.Pack()
					if _, err := c.Write(b); err != nil {
						t.Fatal(err)
					}
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					buf := make([]byte, 4096)
					n, err := c.Read(buf)
					c.Close()
					if err != nil {
						t.Fatalf("query to %s: no answer from that address: %v", host, err)
					}
					r := new(dns.Msg)
					if err := r.Unpack(buf[:n]); err != nil || r.Id != 4242 || len(r.Answer) != 1 {
						t.Fatalf("query to %s: %v %v", host, r, err)
					}
				}
			}
		})
	}
}

// TestDelayedQueriesDoNotQueue: queries held back by a delay fault (for
// one client address) neither hold back other clients' answers nor each
// other, even when read in one batch.
func TestDelayedQueriesDoNotQueue(t *testing.T) {
	deps, addr := startWithFaults(t)
	const delay = 2 * time.Second
	if _, err := deps.Faults.Add(faults.Fault{Service: "dns", Kind: "delay", Addr: "127.0.0.2",
		Params: map[string]string{"ms": strconv.Itoa(int(delay / time.Millisecond))}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	slow, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	const n = 6
	start := time.Now()
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion("www.lab.test.", dns.TypeA)
		m.Id = uint16(100 + i)
		b, _ := m.Pack()
		if _, err := slow.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Another client is answered meanwhile.
	if r := exchange(t, "udp", addr, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("other client: %v", r)
	}
	if d := time.Since(start); d >= delay {
		t.Errorf("another client waited %v behind delayed queries", d)
	}
	_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for range n {
		if _, err := slow.Read(buf); err != nil {
			t.Fatalf("delayed answer: %v", err)
		}
	}
	// One after the other they would take n times the delay.
	if d := time.Since(start); d >= (n-2)*delay {
		t.Errorf("%d delayed queries took %v: they waited for each other", n, d)
	}
}

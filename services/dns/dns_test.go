package dns_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	labdns "labd/services/dns"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	"labd/internal/sessions"
)

// lab is one running DNS service under test.
type lab struct {
	svc   *labdns.Service
	deps  service.Deps
	udp   string
	tcp   string
	clock *fakeClock
}

// fakeClock is the service clock in tests: fixed until advanced.
type fakeClock struct {
	base time.Time
	off  atomic.Int64
}

func (c *fakeClock) now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func startLab(t *testing.T, edit func(*config.Config)) *lab { return startLabB(t, edit) }

func startLabB(t testing.TB, edit func(*config.Config)) *lab {
	t.Helper()
	cfg := labtest.Config(t)
	cfg.DNS.IPv6Address = "::1"
	if edit != nil {
		edit(cfg)
	}
	deps := labtest.Deps(t, cfg)
	s, err := labdns.New(deps)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	svc := s.(*labdns.Service)
	clock := &fakeClock{base: time.Now()}
	svc.SetClock(clock.now)
	eps := labtest.Start(t, svc)
	return &lab{svc: svc, deps: deps, udp: labtest.Addr(t, eps, "dns", "udp"), tcp: labtest.Addr(t, eps, "dns", "tcp"), clock: clock}
}

type qopt func(*dns.Msg)

func edns(size uint16) qopt { return func(m *dns.Msg) { m.SetEdns0(size, false) } }
func norec(m *dns.Msg)      { m.RecursionDesired = false }

func exchange(t *testing.T, network, addr, name string, qtype uint16, opts ...qopt) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	for _, o := range opts {
		o(m)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func (l *lab) q(t *testing.T, name string, qtype uint16, opts ...qopt) *dns.Msg {
	t.Helper()
	return exchange(t, "udp", l.udp, name, qtype, append([]qopt{edns(4096)}, opts...)...)
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		f := strings.Fields(rr.String())
		// owner TTL class type rdata... -> drop the TTL
		out = append(out, strings.Join(append([]string{f[0]}, f[2:]...), " "))
	}
	return out
}

func has(list []string, want string) bool {
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}

func TestRecords(t *testing.T) {
	l := startLab(t, nil)
	tests := []struct {
		name     string
		qtype    uint16
		rcode    int
		answer   []string // each must be in the answer section
		extra    []string // each must be in the additional section
		soaInNs  bool
		nAnswers int // exact count when > 0
	}{
		{name: "lab.test.", qtype: dns.TypeSOA, answer: []string{"lab.test. IN SOA ns.lab.test. hostmaster.lab.test."}},
		{name: "lab.test.", qtype: dns.TypeNS, answer: []string{"lab.test. IN NS ns.lab.test."}, extra: []string{"ns.lab.test. IN A 127.0.0.1", "ns.lab.test. IN AAAA ::1"}},
		{name: "lab.test.", qtype: dns.TypeMX, answer: []string{"lab.test. IN MX 10 mail.lab.test."}, extra: []string{"mail.lab.test. IN A 127.0.0.1", "mail.lab.test. IN AAAA ::1"}},
		{name: "lab.test.", qtype: dns.TypeA, answer: []string{"lab.test. IN A 127.0.0.1"}},
		{name: "www.lab.test.", qtype: dns.TypeA, answer: []string{"www.lab.test. IN A 127.0.0.1"}, nAnswers: 1},
		{name: "www.lab.test.", qtype: dns.TypeAAAA, answer: []string{"www.lab.test. IN AAAA ::1"}},
		{name: "ftp.lab.test.", qtype: dns.TypeA, answer: []string{"ftp.lab.test. IN A 127.0.0.1"}},
		{name: "labd.lab.test.", qtype: dns.TypeA, answer: []string{"labd.lab.test. IN A 127.0.0.1"}},
		{name: "smtp.lab.test.", qtype: dns.TypeA, answer: []string{"smtp.lab.test. IN CNAME mail.lab.test.", "mail.lab.test. IN A 127.0.0.1"}, nAnswers: 2},
		{name: "imap.lab.test.", qtype: dns.TypeCNAME, answer: []string{"imap.lab.test. IN CNAME mail.lab.test."}, nAnswers: 1},
		{name: "lab.test.", qtype: dns.TypeTXT, answer: []string{`lab.test. IN TXT "v=spf1 mx -all"`}},
		{name: "1.0.0.127.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"1.0.0.127.in-addr.arpa. IN PTR labd.lab.test."}},
		{name: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", qtype: dns.TypePTR, answer: []string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. IN PTR labd.lab.test."}},
		{name: "anything.wild.lab.test.", qtype: dns.TypeA, answer: []string{"anything.wild.lab.test. IN A 127.0.0.1"}},
		{name: "a.b.wild.lab.test.", qtype: dns.TypeTXT, answer: []string{`a.b.wild.lab.test. IN TXT "synthesized from the wildcard *.wild.lab.test. (RFC 4592)"`}},
		{name: "alice.lab.test.", qtype: dns.TypeA, answer: []string{"alice.lab.test. IN A 127.0.0.1"}},
		{name: "bob.lab.test.", qtype: dns.TypeA, answer: []string{"bob.lab.test. IN A 127.0.0.1"}},
		{name: "rr.lab.test.", qtype: dns.TypeA, nAnswers: 4},
		// NXDOMAIN and NODATA both carry the SOA in the authority section.
		{name: "nosuch.lab.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soaInNs: true},
		{name: "www.lab.test.", qtype: dns.TypeMX, soaInNs: true},
		{name: "wild.lab.test.", qtype: dns.TypeA, soaInNs: true}, // empty non-terminal
		{name: "nosuch.0.0.127.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError, soaInNs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			r := l.q(t, tt.name, tt.qtype)
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s\n%v", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode], r)
			}
			if !r.Authoritative {
				t.Errorf("AA not set\n%v", r)
			}
			if r.RecursionAvailable {
				t.Errorf("RA set without forwarders")
			}
			ans, extra := rrStrings(r.Answer), rrStrings(r.Extra)
			for _, w := range tt.answer {
				if !hasPrefix(ans, w) {
					t.Errorf("answer lacks %q: %q", w, ans)
				}
			}
			for _, w := range tt.extra {
				if !has(extra, w) {
					t.Errorf("additional lacks %q: %q", w, extra)
				}
			}
			if tt.nAnswers > 0 && len(r.Answer) != tt.nAnswers {
				t.Errorf("%d answers, want %d: %q", len(r.Answer), tt.nAnswers, ans)
			}
			if tt.soaInNs {
				if len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("want no answer and the SOA in authority, got answer %q authority %q", ans, rrStrings(r.Ns))
				} else if r.Ns[0].Header().Ttl != 60 {
					t.Errorf("negative SOA TTL %d, want min(TTL, minimum) = 60", r.Ns[0].Header().Ttl)
				}
			}
		})
	}
}

func hasPrefix(list []string, want string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, want) {
			return true
		}
	}
	return false
}

func TestRefusedOutsideZones(t *testing.T) {
	l := startLab(t, nil)
	for _, name := range []string{"example.com.", "test.", "."} {
		r := l.q(t, name, dns.TypeA)
		if r.Rcode != dns.RcodeRefused || r.RecursionAvailable || r.Authoritative || len(r.Answer) != 0 {
			t.Errorf("%s: want REFUSED without RA/AA, got %v", name, r)
		}
	}
}

func TestQueryCasePreserved(t *testing.T) {
	l := startLab(t, nil)
	r := l.q(t, "WwW.LaB.TeSt.", dns.TypeA)
	if r.Question[0].Name != "WwW.LaB.TeSt." {
		t.Errorf("question section %q, want the query's case", r.Question[0].Name)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("answer %v", r.Answer)
	}
}

func TestTruncationAndEDNS(t *testing.T) {
	l := startLab(t, nil)
	// No EDNS: 512 bytes at most, TC and nothing partial.
	r := exchange(t, "udp", l.udp, "big.lab.test.", dns.TypeA)
	if !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP without EDNS: want TC and no answer, got tc=%v answers=%d", r.Truncated, len(r.Answer))
	}
	// The same over TCP: everything.
	r = exchange(t, "tcp", l.tcp, "big.lab.test.", dns.TypeA)
	if r.Truncated || len(r.Answer) != labdns.BigCount {
		t.Errorf("TCP: want %d answers without TC, got tc=%v answers=%d", labdns.BigCount, r.Truncated, len(r.Answer))
	}
	if n := r.Len(); n <= 512 {
		t.Errorf("big answer is %d bytes, want > 512", n)
	}
	// EDNS 4096: fits, no TC, and the reply carries an OPT.
	r = exchange(t, "udp", l.udp, "big.lab.test.", dns.TypeA, edns(4096))
	if r.Truncated || len(r.Answer) != labdns.BigCount || r.IsEdns0() == nil {
		t.Errorf("EDNS 4096: want %d answers, no TC, OPT; got tc=%v answers=%d opt=%v", labdns.BigCount, r.Truncated, len(r.Answer), r.IsEdns0())
	}
	// EDNS with a small buffer is honoured (512 is the floor).
	r = exchange(t, "udp", l.udp, "big.lab.test.", dns.TypeA, edns(512))
	if !r.Truncated {
		t.Errorf("EDNS 512: want TC")
	}
	// A small answer without EDNS is not truncated.
	r = exchange(t, "udp", l.udp, "lab.test.", dns.TypeMX)
	if r.Truncated || len(r.Answer) != 1 {
		t.Errorf("small answer: tc=%v answers=%d", r.Truncated, len(r.Answer))
	}
}

func TestRoundRobin(t *testing.T) {
	l := startLab(t, nil)
	firsts := map[string]bool{}
	for range 8 {
		r := l.q(t, "rr.lab.test.", dns.TypeA)
		if len(r.Answer) != 4 {
			t.Fatalf("rr: %d answers, want 4", len(r.Answer))
		}
		firsts[r.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) < 2 {
		t.Errorf("the first record never changed over 8 queries: %v", firsts)
	}
}

func axfr(t *testing.T, addr, zone string) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second}
	ch, err := tr.In(m, addr)
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			return rrs, env.Error
		}
		rrs = append(rrs, env.RR...)
	}
	return rrs, nil
}

func TestAXFR(t *testing.T) {
	l := startLab(t, nil)
	rrs, err := axfr(t, l.tcp, "lab.test.")
	if err != nil {
		t.Fatalf("AXFR: %v", err)
	}
	if len(rrs) < 50 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("AXFR: %d records, want SOA first and last", len(rrs))
	}
	all := strings.Join(rrStrings(rrs), "\n")
	for _, w := range []string{"lab.test. IN MX 10 mail.lab.test.", "alice.lab.test. IN A 127.0.0.1", "*.wild.lab.test. IN A 127.0.0.1"} {
		if !strings.Contains(all, w) {
			t.Errorf("AXFR lacks %q", w)
		}
	}
	// Over UDP: refused.
	m := new(dns.Msg)
	m.SetAxfr("lab.test.")
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, l.udp)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR over UDP: want REFUSED, got %v %v", r, err)
	}
	// Not an apex: NOTAUTH.
	if _, err := axfr(t, l.tcp, "www.lab.test."); err == nil {
		t.Errorf("AXFR of a non-apex name succeeded")
	}
}

func TestAXFRRefused(t *testing.T) {
	l := startLab(t, func(c *config.Config) { c.DNS.AllowTransfer = []string{"10.0.0.0/8"} })
	rrs, err := axfr(t, l.tcp, "lab.test.")
	if err == nil || len(rrs) > 0 {
		t.Fatalf("AXFR from 127.0.0.1 with allow_transfer 10.0.0.0/8: want refused, got %d records", len(rrs))
	}
	if !strings.Contains(err.Error(), "rcode: 5") { // 5 = REFUSED
		t.Errorf("error %v does not say refused", err)
	}
}

func zoneConfig(origin, file string) func(*config.Config) {
	return func(c *config.Config) { c.DNS.Zones = append(c.DNS.Zones, config.Zone{Origin: origin, File: file}) }
}

func TestZoneFile(t *testing.T) {
	l := startLab(t, zoneConfig("example.test", filepath.Join("..", "..", "testdata", "dns", "example.zone")))
	tests := []struct {
		name   string
		qtype  uint16
		answer []string
		extra  []string
	}{
		{"example.test.", dns.TypeSOA, []string{"example.test. IN SOA ns1.example.test. hostmaster.example.test. 2026112301 3600 600 604800 120"}, nil},
		{"example.test.", dns.TypeMX, []string{"example.test. IN MX 10 mx1.example.test.", "example.test. IN MX 20 mx2.example.test."}, []string{"mx1.example.test. IN A 127.0.0.25", "mx2.example.test. IN A 127.0.0.26"}},
		{"example.test.", dns.TypeNS, []string{"example.test. IN NS ns1.example.test."}, []string{"ns1.example.test. IN A 127.0.0.53"}},
		{"www.example.test.", dns.TypeA, []string{"www.example.test. IN CNAME web.example.test.", "web.example.test. IN A 127.0.0.80"}, nil},
		{"pc2.lab.example.test.", dns.TypeA, []string{"pc2.lab.example.test. IN A 127.0.1.2"}, nil},
		{"printer.example.test.", dns.TypeA, []string{"printer.example.test. IN A 127.0.0.100"}, nil},                                                                                                  // $INCLUDE
		{"intranet.example.test.", dns.TypeA, []string{"intranet.example.test. IN CNAME www.example.test.", "www.example.test. IN CNAME web.example.test.", "web.example.test. IN A 127.0.0.80"}, nil}, // chain
		{"_http._tcp.example.test.", dns.TypeSRV, []string{"_http._tcp.example.test. IN SRV 0 5 80 web.example.test."}, []string{"web.example.test. IN A 127.0.0.80"}},
	}
	for _, tt := range tests {
		r := l.q(t, tt.name, tt.qtype)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Errorf("%s: %v", tt.name, r)
			continue
		}
		ans, extra := rrStrings(r.Answer), rrStrings(r.Extra)
		for _, w := range tt.answer {
			if !has(ans, w) {
				t.Errorf("%s %s: answer lacks %q: %q", tt.name, dns.TypeToString[tt.qtype], w, ans)
			}
		}
		for _, w := range tt.extra {
			if !has(extra, w) {
				t.Errorf("%s: additional lacks %q: %q", tt.name, w, extra)
			}
		}
	}
	// TTLs: $TTL 600 and an explicit 300.
	if r := l.q(t, "mx2.example.test.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 300 {
		t.Errorf("mx2 TTL: %v", r.Answer)
	}
	if r := l.q(t, "web.example.test.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 600 {
		t.Errorf("web TTL: %v", r.Answer)
	}
	// Below a zone cut: a referral (no AA), NS in authority, glue.
	r := l.q(t, "host.sub.example.test.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || r.Authoritative || len(r.Answer) != 0 ||
		!has(rrStrings(r.Ns), "sub.example.test. IN NS ns.sub.example.test.") ||
		!has(rrStrings(r.Extra), "ns.sub.example.test. IN A 127.0.0.55") {
		t.Errorf("referral: %v", r)
	}
	// The built-in zone is still there.
	if r := l.q(t, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("built-in zone gone: %v", r)
	}
}

func TestZoneFileOverridesBuiltin(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lab.zone")
	writeFile(t, file, "$TTL 60\n@ SOA ns hostmaster 7 3600 600 604800 60\n@ NS ns\nns A 127.0.0.7\nwww A 127.0.0.8\n")
	l := startLab(t, zoneConfig("lab.test", file))
	if r := l.q(t, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.8" {
		t.Errorf("www from the file: %v", r.Answer)
	}
	if r := l.q(t, "mail.lab.test.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("mail should be gone with the built-in zone: %v", r)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// notifySink is a second DNS server that records the NOTIFYs it receives.
type notifySink struct {
	got chan string
}

func (n *notifySink) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	_ = w.WriteMsg(m)
	if r.Opcode == dns.OpcodeNotify {
		n.got <- r.Question[0].Name
	}
}

func startUpstream(t *testing.T, h dns.Handler) string {
	t.Helper()
	pc, err := service.ListenUDP("upstream", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestReloadBrokenZoneKeepsOldAndNotifies(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "example.zone")
	good := "$ORIGIN example.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 604800 60\n@ NS ns\nns A 127.0.0.53\nold A 127.0.0.1\n"
	writeFile(t, file, good)
	sink := &notifySink{got: make(chan string, 16)}
	target := startUpstream(t, sink)
	l := startLab(t, func(c *config.Config) {
		zoneConfig("example.test", file)(c)
		c.DNS.Notify = []string{target}
	})
	if r := l.q(t, "old.example.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("old: %v", r)
	}
	// Line 5 is broken.
	writeFile(t, file, "$ORIGIN example.test.\n$TTL 60\n@ SOA ns hostmaster 2 3600 600 604800 60\n@ NS ns\nnew A 999.1.2.3\n")
	_, err := l.svc.Reload(context.Background())
	if err == nil {
		t.Fatal("reload with a broken zone file: no error")
	}
	if msg := err.Error(); !strings.Contains(msg, "example.zone") || !strings.Contains(msg, "line: 5") {
		t.Errorf("error should name the file and line 5: %v", msg)
	}
	if r := l.q(t, "old.example.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("old zone not kept after a broken reload: %v", r)
	}
	if r := l.q(t, "example.test.", dns.TypeSOA); len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != 1 {
		t.Errorf("serial after broken reload: %v", r.Answer)
	}
	// Fixed, with a new serial: served, and the secondary is notified.
	writeFile(t, file, strings.Replace(strings.Replace(good, "old", "new", 1), "hostmaster 1", "hostmaster 3", 1))
	if _, err := l.svc.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r := l.q(t, "new.example.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("new record not served after reload: %v", r)
	}
	select {
	case z := <-sink.got:
		if z != "example.test." {
			t.Errorf("NOTIFY for %q, want example.test.", z)
		}
	case <-time.After(10 * time.Second):
		t.Error("no NOTIFY received within 10 s of a serial change")
	}
}

func TestCheck(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.DNS.Zones = []config.Zone{{Origin: "example.test", File: filepath.Join("..", "..", "testdata", "dns", "example.zone")}}
	if err := labdns.Check(cfg); err != nil {
		t.Fatalf("check of a good zone: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.zone")
	writeFile(t, bad, "$TTL 60\n@ SOA ns hostmaster 1 3600 600 604800 60\n@ NS ns\nwww IN A not-an-address\n")
	cfg.DNS.Zones = append(cfg.DNS.Zones, config.Zone{Origin: "bad.test", File: bad})
	err := labdns.Check(cfg)
	if err == nil || !strings.Contains(err.Error(), "bad.zone") || !strings.Contains(err.Error(), "line: 4") {
		t.Errorf("check of a broken zone: %v", err)
	}
	// $INCLUDE stays in the zone file's directory.
	esc := filepath.Join(t.TempDir(), "esc.zone")
	writeFile(t, esc, "$TTL 60\n@ SOA ns hostmaster 1 3600 600 604800 60\n@ NS ns\n$INCLUDE ../../../../../../etc/hostname\n")
	cfg.DNS.Zones = []config.Zone{{Origin: "esc.test", File: esc}}
	if err := labdns.Check(cfg); err == nil || !strings.Contains(err.Error(), "zone file's directory") {
		t.Errorf("$INCLUDE outside the directory: %v", err)
	}
	cfg.DNS.Zones = nil
	cfg.DNS.Records = []string{"printer IN A 127.0.0.9", "oops IN MX nope"}
	if err := labdns.Check(cfg); err == nil || !strings.Contains(err.Error(), "dns.records[1]") {
		t.Errorf("check of a bad extra record: %v", err)
	}
}

func TestExtraRecords(t *testing.T) {
	l := startLab(t, func(c *config.Config) {
		c.DNS.Records = []string{"printer IN A 127.0.0.9", "www IN A 127.0.0.1"}
	})
	// A record that repeats a built-in one is not served twice.
	if r := l.q(t, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("duplicate record served: %v", r.Answer)
	}
	if r := l.q(t, "printer.lab.test.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.9" {
		t.Errorf("extra record: %v", r)
	}
}

// upstream is a recursive server stand-in that counts the queries it gets.
type upstream struct {
	hits atomic.Int64
}

func (u *upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.hits.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	switch strings.ToLower(q.Name) {
	case "ext.example.":
		rr, _ := dns.NewRR("ext.example. 100 IN A 127.0.0.99")
		m.Answer = append(m.Answer, rr)
	default:
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR("example. 3600 IN SOA ns.example. h.example. 1 3600 600 86400 30")
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}

func TestForwarderCache(t *testing.T) {
	up := &upstream{}
	addr := startUpstream(t, up)
	l := startLab(t, func(c *config.Config) { c.DNS.Forwarders = []string{addr} })

	r := l.q(t, "ext.example.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 100 || !r.RecursionAvailable || r.Authoritative {
		t.Fatalf("first forwarded answer: %v", r)
	}
	l.clock.advance(10 * time.Second)
	r = l.q(t, "EXT.example.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 90 {
		t.Errorf("cached answer after 10 s: want TTL 90, got %v", r.Answer)
	}
	if r.Question[0].Name != "EXT.example." {
		t.Errorf("cached answer question %q", r.Question[0].Name)
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream hits %d, want 1 (second answer from the cache)", n)
	}
	// Negative caching, for the SOA minimum (30 s).
	for range 2 {
		r = l.q(t, "nx.example.", dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Fatalf("negative answer: %v", r)
		}
	}
	if n := up.hits.Load(); n != 2 {
		t.Errorf("upstream hits %d, want 2 (NXDOMAIN cached)", n)
	}
	l.clock.advance(31 * time.Second)
	l.q(t, "nx.example.", dns.TypeA)
	if n := up.hits.Load(); n != 3 {
		t.Errorf("upstream hits %d, want 3 (negative entry expired)", n)
	}
	// Without RD: no recursion.
	if r := l.q(t, "ext.example.", dns.TypeA, norec); r.Rcode != dns.RcodeRefused {
		t.Errorf("RD=0 outside the zones: want REFUSED, got %s", dns.RcodeToString[r.Rcode])
	}
	// Reload flushes the cache.
	if _, err := l.svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := up.hits.Load()
	l.q(t, "ext.example.", dns.TypeA)
	if up.hits.Load() != before+1 {
		t.Errorf("reload did not flush the cache")
	}
	// Our own zones are still answered authoritatively, with RA.
	if r := l.q(t, "www.lab.test.", dns.TypeA); !r.Authoritative || !r.RecursionAvailable {
		t.Errorf("own zone with forwarders: %v", r)
	}
}

func TestForwarderNotForStrangers(t *testing.T) {
	up := &upstream{}
	addr := startUpstream(t, up)
	l := startLab(t, func(c *config.Config) {
		c.DNS.Forwarders = []string{addr}
		c.DNS.AllowRecursion = []string{"10.0.0.0/8"}
	})
	r := l.q(t, "ext.example.", dns.TypeA)
	if r.Rcode != dns.RcodeRefused || r.RecursionAvailable || up.hits.Load() != 0 {
		t.Errorf("recursion for a client outside allow_recursion: %v (upstream hits %d)", r, up.hits.Load())
	}
}

func TestRateLimit(t *testing.T) {
	for _, slipEvery := range []int{1, 2} {
		l := startLab(t, func(c *config.Config) { c.DNS.RateLimit = 5; c.DNS.RateLimitSlip = slipEvery })
		// The clock stands still: no refill, exactly 5 answers.
		var answered, slipped, dropped int
		for range 10 {
			m := new(dns.Msg)
			m.SetQuestion("www.lab.test.", dns.TypeA)
			// A lost answer counts as dropped: 2 s is far beyond a loaded round trip.
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			r, _, err := c.Exchange(m, l.udp)
			switch {
			case err != nil:
				dropped++
			case r.Truncated && len(r.Answer) == 0:
				slipped++
			case len(r.Answer) == 1:
				answered++
			}
		}
		if answered != 5 {
			t.Errorf("slip %d: %d answered, want 5 (the bucket)", slipEvery, answered)
		}
		if slipEvery == 1 && slipped != 5 {
			t.Errorf("slip 1: %d slipped, want 5", slipped)
		}
		if slipEvery == 2 && (slipped == 0 || dropped == 0) {
			t.Errorf("slip 2: %d slipped, %d dropped: want both", slipped, dropped)
		}
		// TCP is not limited: a slipped client retries over TCP.
		if r := exchange(t, "tcp", l.tcp, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("TCP while over the UDP limit: %v", r)
		}
		// Time refills the bucket.
		l.clock.advance(time.Second)
		if r := exchange(t, "udp", l.udp, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("after a second: %v", r)
		}
	}
}

func TestSessionsRegistered(t *testing.T) {
	l := startLab(t, nil)
	// closed waits until the session of a query for name is closed.
	closed := func(name string) *sessions.Info {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, in := range l.deps.Sessions.List() {
				if in.Proto == "dns" && !in.Open && in.Attrs["name"] == name {
					return &in
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no closed session for %s: %+v", name, l.deps.Sessions.List())
		return nil
	}
	// One query at a time, so that sessions close in ID order (the
	// registry's Get looks finished sessions up by binary search).
	l.q(t, "lab.test.", dns.TypeMX)
	udp := closed("lab.test.")
	exchange(t, "tcp", l.tcp, "nosuch.lab.test.", dns.TypeA)
	tcp := closed("nosuch.lab.test.")
	if udp.Transport != "udp" || udp.Attrs["type"] != "MX" || udp.Attrs["rcode"] != "NOERROR" || udp.Attrs["size"] == "" || udp.BytesOut == 0 {
		t.Errorf("udp session: %+v", udp)
	}
	if tcp.Transport != "tcp" || tcp.Attrs["type"] != "A" || tcp.Attrs["rcode"] != "NXDOMAIN" {
		t.Errorf("tcp session: %+v", tcp)
	}
	s, ok := l.deps.Sessions.Get(udp.ID)
	if !ok {
		t.Fatalf("session %d not found", udp.ID)
	}
	tr := s.Transcript()
	if len(tr) < 2 || !strings.Contains(string(tr[0].Data), "lab.test. IN MX") || !strings.Contains(string(tr[1].Data), "NOERROR") {
		t.Errorf("transcript: %+v", tr)
	}
}

func TestBadInput(t *testing.T) {
	l := startLab(t, nil)
	// Garbage datagrams get no answer and break nothing.
	c, err := (&dns.Client{Net: "udp"}).Dial(l.udp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte{1, 2, 3})
	_, _ = c.Write([]byte("this is not DNS at all, just text"))
	c.Close()
	// An unknown opcode: NOTIMP. A NOTIFY: REFUSED (labd is no secondary).
	m := new(dns.Msg)
	m.SetQuestion("lab.test.", dns.TypeA)
	m.Opcode = dns.OpcodeStatus
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, l.udp)
	if err != nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("STATUS opcode: %v %v", r, err)
	}
	m = new(dns.Msg)
	m.SetNotify("lab.test.")
	r, _, err = (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, l.udp)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("NOTIFY: %v %v", r, err)
	}
	// EDNS version 1: BADVERS.
	m = new(dns.Msg)
	m.SetQuestion("lab.test.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.IsEdns0().SetVersion(1)
	r, _, err = (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, l.udp)
	if err != nil || r.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: %v %v", r, err)
	}
	// Still serving.
	if r := l.q(t, "www.lab.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after bad input: %v", r)
	}
}

func TestReloadRefreshesUsers(t *testing.T) {
	l := startLab(t, nil)
	if r := l.q(t, "carol.lab.test.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("carol before: %v", r)
	}
	serial := l.q(t, "lab.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial
	if err := l.deps.Store.CreateUser(context.Background(), "carol", "carol", false); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := l.q(t, "carol.lab.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("carol after reload: %v", r)
	}
	if s2 := l.q(t, "lab.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial; s2 <= serial {
		t.Errorf("serial %d after a change, was %d", s2, serial)
	}
	// Nothing changed: the serial stays.
	s2 := l.q(t, "lab.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial
	if _, err := l.svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s3 := l.q(t, "lab.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial; s3 != s2 {
		t.Errorf("serial changed from %d to %d without a change", s2, s3)
	}
}

// TestSecondary is the primary/secondary exercise: one labd serves a zone
// from a file, another copies it by AXFR, and a NOTIFY after a change on
// the primary makes the secondary fetch the new version.
func TestSecondary(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "example.zone")
	zone := func(serial int, name string) string {
		return "$ORIGIN example.test.\n$TTL 60\n@ SOA ns hostmaster " + strconv.Itoa(serial) + " 3600 600 604800 60\n@ NS ns\nns A 127.0.0.53\n" + name + " A 127.0.0.1\n"
	}
	writeFile(t, file, zone(1, "first"))
	var primaryCfg *config.Config
	primary := startLab(t, func(c *config.Config) {
		zoneConfig("example.test", file)(c)
		primaryCfg = c
	})
	secondary := startLab(t, func(c *config.Config) {
		c.DNS.Secondaries = []config.Secondary{{Origin: "example.test", Primary: primary.tcp}}
	})
	waitFor := func(name string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := secondary.q(t, name, dns.TypeA)
			if len(r.Answer) == 1 && r.Authoritative {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("secondary never answered %s: %v", name, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("first.example.test.")
	// The primary changes the zone and notifies the secondary.
	primaryCfg.DNS.Notify = []string{secondary.udp}
	writeFile(t, file, zone(2, "second"))
	if _, err := primary.svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor("second.example.test.")
	if r := secondary.q(t, "example.test.", dns.TypeSOA); len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != 2 {
		t.Errorf("secondary SOA: %v", r.Answer)
	}
	// A NOTIFY for a zone it is not a secondary of is refused.
	m := new(dns.Msg)
	m.SetNotify("lab.test.")
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, secondary.udp)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("NOTIFY for lab.test: %v %v", r, err)
	}
}

// mailPorts gives the mail services the lab profile's fixed ports (tests
// otherwise use port 0, which SRV records cannot announce).
func mailPorts(c *config.Config) {
	c.IMAP.Listen, c.IMAP.TLSListen = []string{"127.0.0.1:10143"}, []string{"127.0.0.1:10993"}
	c.POP3.Listen, c.POP3.TLSListen = []string{"127.0.0.1:10110"}, []string{"127.0.0.1:10995"}
	c.SMTP.SubmissionListen, c.SMTP.TLSListen = []string{"127.0.0.1:10587"}, []string{"127.0.0.1:10465"}
	c.POP3.Enabled = false
}

// RFC 6891 and RFC 6186 on the wire, with miekg/dns as the client.
func TestEDNSConformance(t *testing.T) {
	l := startLab(t, mailPorts)
	ask := func(m *dns.Msg) *dns.Msg {
		t.Helper()
		r, _, err := (&dns.Client{Timeout: 5 * time.Second, UDPSize: 4096}).Exchange(m, l.udp)
		if err != nil {
			t.Fatalf("%v", err)
		}
		return r
	}
	// Two OPT records: FORMERR, with an OPT.
	m := new(dns.Msg)
	m.SetQuestion("lab.test.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.Extra = append(m.Extra, dns.Copy(m.Extra[0]))
	if r := ask(m); r.Rcode != dns.RcodeFormatError || r.IsEdns0() == nil {
		t.Errorf("two OPT: rcode %s, opt %v", dns.RcodeToString[r.Rcode], r.IsEdns0())
	}
	// NOTIMP to an EDNS query with AD set: OPT, no AD.
	m = new(dns.Msg)
	m.SetQuestion("lab.test.", dns.TypeA)
	m.Opcode = dns.OpcodeStatus
	m.AuthenticatedData = true
	m.SetEdns0(4096, false)
	r := ask(m)
	if r.Rcode != dns.RcodeNotImplemented || r.AuthenticatedData || r.IsEdns0() == nil {
		t.Errorf("NOTIMP: rcode %s ad=%v opt=%v", dns.RcodeToString[r.Rcode], r.AuthenticatedData, r.IsEdns0())
	}
	// REFUSED likewise.
	m = new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeA)
	m.AuthenticatedData = true
	m.SetEdns0(4096, false)
	if r := ask(m); r.Rcode != dns.RcodeRefused || r.AuthenticatedData || r.IsEdns0() == nil {
		t.Errorf("REFUSED: ad=%v opt=%v", r.AuthenticatedData, r.IsEdns0())
	}
	// Advertised size: 1232; answers over it are truncated over UDP.
	r = l.q(t, "lab.test.", dns.TypeSOA)
	if o := r.IsEdns0(); o == nil || o.UDPSize() != 1232 {
		t.Errorf("advertised EDNS size: %v", o)
	}
	// RFC 6186 SRV records with the configured ports; POP3 off: ".".
	for name, want := range map[string]string{
		"_imap._tcp.lab.test.":        "0 1 10143 mail.lab.test.",
		"_imaps._tcp.lab.test.":       "0 1 10993 mail.lab.test.",
		"_submission._tcp.lab.test.":  "0 1 10587 mail.lab.test.",
		"_submissions._tcp.lab.test.": "0 1 10465 mail.lab.test.",
		"_pop3s._tcp.lab.test.":       "0 0 0 .",
	} {
		r := l.q(t, name, dns.TypeSRV)
		if len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), want) {
			t.Errorf("%s SRV: %v, want %s", name, r.Answer, want)
		}
	}
	if r := l.q(t, "autoconfig.lab.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("autoconfig: %v", r.Answer)
	}
}

func TestEDNSSizeConfigurable(t *testing.T) {
	l := startLab(t, func(c *config.Config) { c.DNS.EDNSUDPSize = 4096 })
	if o := l.q(t, "lab.test.", dns.TypeSOA).IsEdns0(); o == nil || o.UDPSize() != 4096 {
		t.Errorf("advertised EDNS size: %v", o)
	}
}

// A user added or removed (here by another process or host writing the
// store) is in the built-in zone at once, without a reload.
func TestUserChangesUpdateTheZone(t *testing.T) {
	l := startLab(t, nil)
	serial := l.q(t, "lab.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial
	if err := l.deps.Store.CreateUser(context.Background(), "erin", "erin", false); err != nil {
		t.Fatal(err)
	}
	until := func(what string, ok func(*dns.Msg) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := l.q(t, "erin.lab.test.", dns.TypeA)
			if ok(r) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	until("erin added, no reload", func(r *dns.Msg) bool { return len(r.Answer) == 1 })
	if s2 := l.q(t, "lab.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial; s2 <= serial {
		t.Errorf("serial %d after a user was added, was %d", s2, serial)
	}
	if err := l.deps.Store.DeleteUser(context.Background(), "erin"); err != nil {
		t.Fatal(err)
	}
	until("erin removed, no reload", func(r *dns.Msg) bool { return r.Rcode == dns.RcodeNameError })
}

package dns_test

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"labd/internal/labtest"
	labdns "labd/services/dns"
)

// FuzzHandler feeds raw packets to the DNS handler the way miekg/dns's
// server does (a packet that does not unpack is dropped before the
// handler), over UDP and over TCP. Invariants: no panic (not even one that
// service.Recover would swallow); at most one answer per UDP query; every
// answer unpacks, is a response, and carries the query's ID.
func FuzzHandler(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edit  func(*dns.Msg)
	}{
		{"www.lab.test.", dns.TypeA, nil},
		{"lab.test.", dns.TypeANY, nil},
		{"big.lab.test.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, true) }},
		{"nx.lab.test.", dns.TypeMX, func(m *dns.Msg) { m.SetEdns0(512, false); m.IsEdns0().SetVersion(1) }},
		{"lab.test.", dns.TypeAXFR, nil},
		{"example.com.", dns.TypeA, nil},
		{"lab.test.", dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }},
		{"lab.test.", dns.TypeTXT, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edit != nil {
			q.edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	svc, panics := fuzzService(f)
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		req := new(dns.Msg)
		if err := req.Unpack(pkt); err != nil {
			return // dropped by the server before the handler
		}
		w := &fakeWriter{tcp: tcp}
		svc.ServeDNS(w, req)
		if p := panics.Take(); len(p) > 0 {
			t.Fatalf("handler panicked on %v:\n%s", req, p[0])
		}
		if !tcp && len(w.sent) > 1 {
			t.Fatalf("%d UDP answers to one query", len(w.sent))
		}
		for _, b := range w.sent {
			m := new(dns.Msg)
			if err := m.Unpack(b); err != nil {
				t.Fatalf("answer does not unpack: %v", err)
			}
			if !m.Response || m.Id != req.Id {
				t.Fatalf("answer %v to query %v", m, req)
			}
			if !tcp && len(b) > 4096 {
				t.Fatalf("UDP answer of %d bytes", len(b))
			}
		}
	})
}

// fakeWriter is a dns.ResponseWriter that keeps what is sent.
type fakeWriter struct {
	tcp  bool
	sent [][]byte
}

func (w *fakeWriter) LocalAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (w *fakeWriter) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
}

func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *fakeWriter) Write(b []byte) (int, error) {
	w.sent = append(w.sent, append([]byte(nil), b...))
	return len(b), nil
}

func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

// fuzzService is the DNS service the fuzz targets feed: no forwarders
// (no network: recursion is refused), no rate limit.
func fuzzService(f *testing.F) (*labdns.Service, *labtest.PanicLog) {
	cfg := labtest.Config(f)
	cfg.DNS.Forwarders = nil
	cfg.DNS.RateLimit = 0
	deps, panics := labtest.FuzzDeps(f, cfg)
	s, err := labdns.New(deps)
	if err != nil {
		f.Fatal(err)
	}
	return s.(*labdns.Service), panics
}

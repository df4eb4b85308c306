package dns_test

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzUDPLoop feeds raw packets to labd's UDP loop, each twice with
// different IDs, so that the second may come from the packed answers
// (keyed by the bytes after the ID). Invariants: no panic; at most one
// answer per packet; every answer unpacks, is a response and carries the
// ID of its query; none to a packet shorter than a header or to a
// response.
func FuzzUDPLoop(f *testing.F) {
	for _, name := range []string{"www.lab.test.", "rr.lab.test.", "nope.lab.test.", "example.com."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if name == "rr.lab.test." {
			m.SetEdns0(1232, false)
		}
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Add([]byte{0, 1, 0x80, 0, 0, 0})
	svc, panics := fuzzService(f)
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer server.Close()
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer client.Close()
	loop := svc.UDPLoop(server)
	from := client.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 65536)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for round := range 2 {
			p := append([]byte(nil), pkt...)
			if len(p) >= 2 {
				p[0], p[1] = byte(round), 0x5a
			}
			loop(p, from)
			if pn := panics.Take(); len(pn) > 0 {
				t.Fatalf("UDP loop panicked on % x:\n%s", p, pn[0])
			}
			// A one-byte marker from the same socket follows whatever
			// was answered (a DNS message has at least 12).
			if _, err := server.WriteToUDPAddrPort([]byte{0xff}, from); err != nil {
				t.Fatal(err)
			}
			var answers [][]byte
			for {
				_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := client.Read(buf)
				if err != nil {
					t.Fatalf("no marker after packet % x: %v", p, err)
				}
				if n == 1 {
					break
				}
				answers = append(answers, append([]byte(nil), buf[:n]...))
			}
			if len(answers) > 1 {
				t.Fatalf("%d answers to one packet % x", len(answers), p)
			}
			if len(answers) == 1 && (len(p) < 12 || p[2]&0x80 != 0) {
				t.Fatalf("answer to a packet that gets none: % x", p)
			}
			for _, a := range answers {
				m := new(dns.Msg)
				if err := m.Unpack(a); err != nil {
					t.Fatalf("answer % x does not unpack: %v", a, err)
				}
				if !m.Response || m.Id != uint16(p[0])<<8|uint16(p[1]) {
					t.Fatalf("answer %v to packet % x", m, p)
				}
			}
		}
	})
}

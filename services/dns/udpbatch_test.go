package dns_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"labd/config"
)

// TestBurstAnsweredAndRecorded: a burst of queries from two clients
// (read by recvmmsg in batches, answered packed or on the slow path, sent
// by sendmmsg) gets every answer once, with its own ID, at the client
// that asked, on IPv4 and IPv6; and every query is a session of its own
// in the registry, with the client's address and the query's ID in its
// transcript.
func TestBurstAnsweredAndRecorded(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			l := startLab(t, func(c *config.Config) {
				c.DNS.Listen = []string{listen}
				c.DNS.RateLimitExempt = []string{"127.0.0.0/8", "::1/128"}
			})
			var clients [2]net.Conn
			for i := range clients {
				c, err := net.Dial("udp", l.udp)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
			}
			names := []string{"www.lab.test.", "lab.test.", "nope.lab.test."}
			const n, first = 150, 1000
			for i := range n {
				m := new(dns.Msg)
				m.SetQuestion(names[i%len(names)], dns.TypeA)
				m.Id = uint16(first + i)
				b, _ := m.Pack()
				if _, err := clients[i%2].Write(b); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 4096)
			for ci, c := range clients {
				seen := map[uint16]bool{}
				for len(seen) < n/2 {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					k, err := c.Read(buf)
					if err != nil {
						t.Fatalf("client %d: %d answers of %d: %v", ci, len(seen), n/2, err)
					}
					r := new(dns.Msg)
					if err := r.Unpack(buf[:k]); err != nil || !r.Response || r.Id < first || r.Id >= first+n || seen[r.Id] {
						t.Fatalf("client %d: answer %v: %v (seen before: %v)", ci, r, err, seen[r.Id])
					}
					i := int(r.Id - first)
					if i%2 != ci || r.Question[0].Name != names[i%len(names)] {
						t.Fatalf("client %d got the answer to query %d (%s) of client %d", ci, i, r.Question[0].Name, i%2)
					}
					seen[r.Id] = true
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				recorded := 0
				for _, in := range l.deps.Sessions.List() {
					ci := -1
					for i, c := range clients {
						if in.Remote == c.LocalAddr().String() {
							ci = i
						}
					}
					if in.Proto != "dns" || ci < 0 || in.Open {
						continue
					}
					s, ok := l.deps.Sessions.Get(in.ID)
					if !ok {
						t.Fatalf("session %d listed, not found", in.ID)
					}
					tr := s.Transcript()
					if len(tr) != 2 {
						t.Fatalf("session %d: transcript %+v", in.ID, tr)
					}
					_, rest, _ := strings.Cut(string(tr[0].Data), " id=")
					idText, _, _ := strings.Cut(rest, " ")
					if id, err := strconv.Atoi(idText); err != nil || (id-first)%2 != ci {
						t.Fatalf("session %d of client %d records query %q", in.ID, ci, tr[0].Data)
					}
					recorded++
				}
				if recorded == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d queries recorded of %d", recorded, n)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

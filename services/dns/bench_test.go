package dns_test

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"labd/config"
)

// BenchmarkUDPQuery measures authoritative answers over UDP, client and
// server on the same machine (the client's cost is included, so the
// server alone does better). The target is 50k answers/s on 2 cores with
// dnsperf.
func BenchmarkUDPQuery(b *testing.B) { benchUDP(b, false) }

// BenchmarkUDPQueryExercises is the same with the built-in exercises on,
// as in the lab profile: each query is a finished session the exercise
// tracker evaluates.
func BenchmarkUDPQueryExercises(b *testing.B) { benchUDP(b, true) }

func benchUDP(b *testing.B, exercises bool) {
	l := startLabB(b, func(c *config.Config) {
		c.DNS.RateLimitExempt = []string{"127.0.0.0/8"}
		// As in bench/peers/run.sh (a config file: no built-in exercises)
		// unless asked.
		c.Exercises.Builtin = &exercises
	})
	m := new(dns.Msg)
	m.SetQuestion("www.lab.test.", dns.TypeA)
	q, _ := m.Pack()
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("udp", l.udp)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for pb.Next() {
			if _, err := c.Write(q); err != nil {
				b.Error(err)
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}

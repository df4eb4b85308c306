package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkDeliver8 is eight SMTP sessions delivering at once, each to its
// own user, acknowledged only after commit: deliveries per second on each
// backend (PostgreSQL with its default synchronous_commit, SQLite with
// synchronous=FULL and group commit).
func BenchmarkDeliver8(b *testing.B) {
	const clients = 8
	msg := []byte("From: a@example.org\r\nSubject: bench\r\n\r\n" + string(make([]byte, 2048)) + "\r\n")
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := context.Background()
			for i := 0; i < clients; i++ {
				if err := s.CreateUser(ctx, fmt.Sprintf("u%d", i), "x", false); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for i := c; i < b.N; i += clients {
						if err := s.Deliver(ctx, []string{fmt.Sprintf("u%d", c)}, msg, time.Time{}); err != nil {
							b.Error(err)
							return
						}
					}
				}(c)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}

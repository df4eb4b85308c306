package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/store"
	smtpsvc "labd/services/smtp"
)

// BenchmarkDeliveries10KB: 8 concurrent SMTP clients deliver 10 KB messages
// to one local user, each acknowledged only after the store committed it
// (issue target: 1,000 per second).
func BenchmarkDeliveries10KB(b *testing.B) {
	cfg := labtest.Config(b)
	d := labtest.Deps(b, cfg)
	svc, err := smtpsvc.NewService(d)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "smtp", "tcp")
	msg := []byte("Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 128))
	const clients = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for next.Add(1) <= int64(b.N) {
				if err := c.SendMail("bench@lab.test", []string{"alice@lab.test"}, bytes.NewReader(msg)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkDeliveries8 is the issue 17 figure: 8 concurrent SMTP clients,
// each delivering 2 KB messages to its own user through the real SMTP
// service, each acknowledged only after its commit, on each store backend
// (SQLite with synchronous=FULL and group commit; PostgreSQL at its
// defaults). It reports deliveries per second; docs/scale-out.md has the
// figures.
func BenchmarkDeliveries8(b *testing.B) {
	const clients = 8
	msg := []byte("From: bench@example.org\r\nSubject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 62)+"\r\n", 32))
	for _, backend := range []struct {
		name  string
		store func(b *testing.B) config.Store
	}{
		{"sqlite", func(*testing.B) config.Store { return config.Store{Driver: "sqlite"} }},
		{"postgres", func(b *testing.B) config.Store {
			return config.Store{Driver: "postgres", DSN: labtest.Postgres(b)}
		}},
	} {
		b.Run(backend.name, func(b *testing.B) {
			cfg := labtest.Config(b)
			cfg.Store = backend.store(b)
			d := labtest.Deps(b, cfg)
			for i := 0; i < clients; i++ {
				if err := d.Store.CreateUser(context.Background(), fmt.Sprintf("bench%d", i), "x", false); err != nil && !errors.Is(err, store.ErrExists) {
					b.Fatal(err)
				}
			}
			svc, err := smtpsvc.NewService(d)
			if err != nil {
				b.Fatal(err)
			}
			addr := labtest.Addr(b, labtest.Start(b, svc), "smtp", "tcp")
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := gosmtp.Dial(addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					rcpt := []string{fmt.Sprintf("bench%d@lab.test", i)}
					for next.Add(1) <= int64(b.N) {
						if err := c.SendMail("bench@example.org", rcpt, bytes.NewReader(msg)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}

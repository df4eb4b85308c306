package smtp_test

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"labd/internal/labtest"
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

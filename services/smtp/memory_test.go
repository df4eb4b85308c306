package smtp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"labd/internal/labtest"
)

// rss returns the resident set size of this process in bytes (the daemon
// runs in it).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("read /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// bodyReader generates a message of n bytes in 78-byte lines without
// holding it, so that the client side costs no memory.
type bodyReader struct{ left, off int }

const bodyLine = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmn\r\n"

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && b.left > 0 {
		c := copy(p[n:min(len(p), n+b.left)], bodyLine[b.off:])
		n += c
		b.left -= c
		b.off = (b.off + c) % len(bodyLine)
	}
	return n, nil
}

// TestManyLargeMessagesMemoryBounded: 16 clients send a 20 MB message at
// once. The in-flight budget refuses those that do not fit with 452, every
// 250 is a stored message, and the daemon's RSS stays far below what
// holding them all would take (over 1 GB before the budget).
func TestManyLargeMessagesMemoryBounded(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	addr := d.Addr(t, "smtp", "tcp")
	runtime.GC()
	base := rss(t)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if r := rss(t); r > peak.Load() {
				peak.Store(r)
			}
		}
	}()
	const size = 20 << 20
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Minute))
			br := bufio.NewReader(c)
			reply := func() string {
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return "EOF " + err.Error()
					}
					if len(l) < 4 || l[3] != '-' {
						return l
					}
				}
			}
			reply()
			for _, cmd := range []string{"EHLO big", "MAIL FROM:<big@example.org>", "RCPT TO:<alice@lab.test>", "DATA"} {
				fmt.Fprintf(c, "%s\r\n", cmd)
				if r := reply(); r[0] != '2' && r[0] != '3' {
					t.Errorf("%s: %q", cmd, r)
					return
				}
			}
			bw := bufio.NewWriterSize(c, 64<<10)
			fmt.Fprintf(bw, "Subject: big %d\r\n\r\n", i)
			if _, err := io.Copy(bw, &bodyReader{left: size}); err != nil {
				t.Error(err)
				return
			}
			bw.WriteString("\r\n.\r\n")
			bw.Flush()
			switch r := reply(); {
			case strings.HasPrefix(r, "250"):
				ok.Add(1)
			case strings.HasPrefix(r, "452"):
				refused.Add(1)
			default:
				t.Errorf("after DATA: %q", r)
			}
		}()
	}
	wg.Wait()
	close(stop)
	grew := peak.Load() - base
	t.Logf("16 × 20 MB: %d delivered, %d refused with 452; RSS grew by %d MB at its peak", ok.Load(), refused.Load(), grew>>20)
	if ok.Load() == 0 {
		t.Error("no message delivered at all")
	}
	box, err := d.Deps.Store.Mailbox(context.Background(), "alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := d.Deps.Store.Messages(context.Background(), box.ID)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(msgs)) != ok.Load() {
		t.Errorf("%d messages stored, %d acknowledged with 250", len(msgs), ok.Load())
	}
	if raceOn {
		t.Logf("race detector on: RSS bound not checked (it multiplies memory use)")
	} else if grew > 700<<20 {
		t.Errorf("RSS grew by %d MB: the in-flight budget does not hold", grew>>20)
	}
}

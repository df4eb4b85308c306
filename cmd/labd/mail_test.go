package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"labd/internal/store"
)

// smtpSession is a hand-typed SMTP exchange on a raw socket.
type smtpSession struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialSMTP(t testing.TB, addr string) *smtpSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &smtpSession{t: t, c: c, br: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// cmd sends a line and returns the last line of the reply.
func (s *smtpSession) cmd(line, code string) string {
	s.t.Helper()
	if line != "" {
		fmt.Fprintf(s.c, "%s\r\n", line)
	}
	return s.expect(code)
}

func (s *smtpSession) expect(code string) string {
	s.t.Helper()
	for {
		l, err := s.br.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply (want %s): %v", code, err)
		}
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		if !strings.HasPrefix(l, code) {
			s.t.Fatalf("want %s, got %q", code, l)
		}
		return l
	}
}

func inbox(t testing.TB, dataDir, user string) []string {
	t.Helper()
	st, err := store.OpenSQLite(dataDir+"/labd.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	mb, err := st.Mailbox(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := st.Messages(ctx, mb.ID)
	var out []string
	for _, m := range msgs {
		b, _ := st.Body(ctx, mb.ID, m.UID)
		out = append(out, string(b))
	}
	return out
}

// A mail whose DATA is still being typed when SIGTERM arrives is finished,
// acknowledged and stored: the stop waits for it.
func TestSigtermDuringSMTPData(t *testing.T) {
	path, cfg := writeConfig(t, nil)
	p := serve(t, path)
	s := dialSMTP(t, p.addr(t, "smtp/tcp"))
	s.cmd("EHLO pc1", "250")
	s.cmd("MAIL FROM:<alice@lab.test>", "250")
	s.cmd("RCPT TO:<bob@lab.test>", "250")
	s.cmd("DATA", "354")
	fmt.Fprintf(s.c, "Subject: in flight\r\n\r\nfirst half\r\n")
	p.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "stopping") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(s.c, "second half\r\n")
	s.cmd(".", "250")
	s.c.Close()
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
	msgs := inbox(t, cfg.Server.DataDir, "bob")
	if len(msgs) != 1 || !strings.Contains(msgs[0], "first half\r\nsecond half\r\n") {
		t.Fatalf("mail acknowledged during shutdown not stored intact: %q", msgs)
	}
}

// Four clients deliver as fast as they can; labd is killed with SIGKILL
// mid-stream; after a restart every acknowledged (250) mail is there.
func TestKill9DuringDeliveriesLosesNothingAcknowledged(t *testing.T) {
	path, cfg := writeConfig(t, nil)
	p := serve(t, path)
	addr := p.addr(t, "smtp/tcp")
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			reply := func() string {
				for {
					l, err := br.ReadString('\n')
					if err != nil || len(l) < 4 || l[3] != '-' {
						return l
					}
				}
			}
			reply()
			fmt.Fprintf(c, "EHLO load\r\n")
			reply()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				fmt.Fprintf(c, "MAIL FROM:<load@lab.test>\r\nRCPT TO:<alice@lab.test>\r\nDATA\r\n")
				// Pipelined: the replies to MAIL, RCPT and DATA, in order.
				mail, rcpt, data := reply(), reply(), reply()
				if !strings.HasPrefix(mail, "250") || !strings.HasPrefix(rcpt, "250") || !strings.HasPrefix(data, "354") {
					return
				}
				fmt.Fprintf(c, "Subject: %s\r\n\r\n%s\r\n.\r\n", id, strings.Repeat("x", 2000))
				if !strings.HasPrefix(reply(), "250") {
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	p.wait(t)

	p2 := serve(t, path)
	_ = p2
	stored := map[string]bool{}
	for _, m := range inbox(t, cfg.Server.DataDir, "alice") {
		if i := strings.Index(m, "Subject: "); i >= 0 {
			stored[strings.TrimSpace(strings.SplitN(m[i+9:], "\r\n", 2)[0])] = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range acked {
		if !stored[id] {
			t.Errorf("mail %s was acknowledged with 250 but is gone after kill -9", id)
		}
	}
	if len(acked) < 100 {
		t.Errorf("only %d acknowledged", len(acked))
	}
}

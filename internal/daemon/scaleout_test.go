package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"net/smtp"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"labd/config"
	"labd/internal/labtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.StopPostgres()
	os.Exit(code)
}

// mailboxWatch records what an IMAP client hears without asking.
type mailboxWatch struct {
	mu       sync.Mutex
	exists   uint32
	expunged int
}

func (w *mailboxWatch) until(t *testing.T, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		w.mu.Lock()
		done := ok()
		w.mu.Unlock()
		if done {
			return time.Since(start)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("%s: not seen after 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func idleOn(t *testing.T, addr, user string) (*mailboxWatch, *imapclient.IdleCommand) {
	t.Helper()
	w := &mailboxWatch{}
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				w.mu.Lock()
				w.exists = *d.NumMessages
				w.mu.Unlock()
			}
		},
		Expunge: func(uint32) { w.mu.Lock(); w.expunged++; w.exists--; w.mu.Unlock() },
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, user).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s on %s: %v", user, addr, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	w.exists = sel.NumMessages
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	return w, idle
}

// pop3Dele deletes message 1 of user's maildrop over POP3.
func pop3Dele(t *testing.T, addr, user string) {
	t.Helper()
	c := labtest.Dial(t, addr)
	r := bufio.NewReader(c)
	for _, cmd := range []string{"", "USER " + user, "PASS " + user, "DELE 1", "QUIT"} {
		if cmd != "" {
			fmt.Fprintf(c, "%s\r\n", cmd)
		}
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("POP3 %q: %q %v", cmd, line, err)
		}
	}
}

// Two labd hosts on one PostgreSQL database are one lab: a user added on
// A logs in on B, mail delivered over SMTP on A shows in IMAP IDLE on B,
// and a POP3 DELE on B is an EXPUNGE in IMAP IDLE on A.
func TestTwoDaemonsShareOneDatabase(t *testing.T) {
	dsn := labtest.Postgres(t)
	start := func() *labtest.Daemon {
		cfg := config.LabEphemeral(t.TempDir())
		cfg.Store = config.Store{Driver: "postgres", DSN: dsn}
		return labtest.StartDaemon(t, cfg)
	}
	a, b := start(), start()
	ctx := context.Background()

	if err := a.Deps.Store.CreateUser(ctx, "carol", "carol", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Deps.Store.Authenticate(ctx, "imap", "carol", "carol"); err != nil {
		t.Fatalf("user added on A, login on B: %v", err)
	}
	onB, _ := idleOn(t, b.Addr(t, "imap", "tcp"), "carol")
	msg := "From: x@example.org\r\nTo: carol@lab.test\r\nSubject: across hosts\r\n\r\nhello\r\n"
	sendMail(t, a.Addr(t, "smtp", "tcp"), "carol@lab.test", msg)
	d := onB.until(t, "EXISTS on B after SMTP on A", func() bool { return onB.exists == 1 })
	t.Logf("SMTP on A seen by IMAP IDLE on B after %v", d)

	onA, _ := idleOn(t, a.Addr(t, "imap", "tcp"), "carol")
	pop3Dele(t, b.Addr(t, "pop3", "tcp"), "carol")
	d = onA.until(t, "EXPUNGE on A after POP3 DELE on B", func() bool { return onA.expunged == 1 })
	t.Logf("POP3 DELE on B seen by IMAP IDLE on A %v after B answered QUIT", d)

	// B's own POP3 DELE expunged the first message from its IDLE view.
	onB.until(t, "EXPUNGE on B after its POP3 DELE", func() bool { return onB.exists == 0 })

	// The database restarts under both hosts while B's client is in IDLE:
	// SMTP on A answers a temporary failure while it is down, accepts
	// again when it is back, and B's IDLE session hears of the new mail.
	labtest.RestartPostgres(t, func() {
		if err := trySendMail(a.Addr(t, "smtp", "tcp"), "carol@lab.test", msg); err == nil || !strings.Contains(err.Error(), "451") {
			t.Errorf("SMTP on A with the database down: %v, want a 451", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := trySendMail(a.Addr(t, "smtp", "tcp"), "carol@lab.test", msg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMTP on A still failing 30 s after the database came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d = onB.until(t, "EXISTS on B after the database restart", func() bool { return onB.exists == 1 })
	t.Logf("after the database restart, SMTP on A seen by IMAP IDLE on B after %v", d)
}

// sendMail delivers over plain SMTP (smtp.SendMail would insist on
// STARTTLS with the lab CA).
func sendMail(t *testing.T, addr, rcpt, msg string) {
	t.Helper()
	if err := trySendMail(addr, rcpt, msg); err != nil {
		t.Fatalf("SMTP on %s: %v", addr, err)
	}
}

func trySendMail(addr, rcpt, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail("x@example.org"); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

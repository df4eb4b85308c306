package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"labd/config"
	"labd/internal/authguard"
	"labd/internal/daemon"
	"labd/internal/fsroot"
	"labd/internal/labtest"
	"labd/internal/store"
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

// imapLogin says how an IMAP LOGIN on addr ends.
func imapLogin(t *testing.T, addr, user, pass string) error {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Login(user, pass).Wait()
}

// User changes made on one host (here by `labd user`'s own store, as the
// CLI opens it with host A's config) reach the other host at once: the
// new password works on B and the old one fails, B's login guard forgets
// the failures against the old password, and a removed user's live
// session on B ends and cannot log in again.
func TestUserChangesAcrossHosts(t *testing.T) {
	dsn := labtest.Postgres(t)
	start := func(mutate func(*config.Config)) (*labtest.Daemon, *config.Config) {
		cfg := config.LabEphemeral(t.TempDir())
		cfg.Store = config.Store{Driver: "postgres", DSN: dsn}
		if mutate != nil {
			mutate(cfg)
		}
		return labtest.StartDaemon(t, cfg), cfg
	}
	a, cfgA := start(nil)
	// One free try, and an attempt that would wait is refused unchecked:
	// a failure makes the next attempt within a second fail.
	b, cfgB := start(func(c *config.Config) {
		c.AuthThrottle.FreeTries = 1
		c.AuthThrottle.MaxWait = config.Duration(100 * time.Millisecond)
	})
	ctx := context.Background()
	// `labd user ... --config A.yaml` opens the store as labd serve does.
	cli, err := daemon.OpenStore(cfgA, fsroot.Layout{DataDir: cfgA.Server.DataDir}, labtest.BcryptCost, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	if err := cli.CreateUser(ctx, "dave", "old-pw", false); err != nil {
		t.Fatal(err)
	}
	// B makes dave's home when it hears of him, not at his first login.
	home := filepath.Join(cfgB.Server.DataDir, "home", "dave", "public_html")
	deadline := time.Now().Add(20 * time.Second)
	for _, err := os.Stat(home); err != nil; _, err = os.Stat(home) {
		if time.Now().After(deadline) {
			t.Fatalf("dave's home on B: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	heard := make(chan struct{}, 4)
	cancel := b.Deps.Store.Subscribe(func(e store.Event) {
		if e.Kind == store.UserChanged && e.User == "dave" {
			heard <- struct{}{}
		}
	})
	defer cancel()
	guard := b.Deps.Guard
	if _, err := guard.Authenticate(ctx, "imap", "192.0.2.9:1000", "dave", "typo"); err == nil {
		t.Fatal("wrong password accepted")
	}
	failed := time.Now()
	if _, err := guard.Authenticate(ctx, "imap", "192.0.2.9:1000", "dave", "old-pw"); !errors.Is(err, authguard.ErrThrottled) {
		t.Fatalf("right after a failure on B: %v, want throttled", err)
	}
	changed := time.Now()
	if err := cli.SetPassword(ctx, "dave", "new-pw"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-heard:
		t.Logf("B heard of the password change %v after labd user's store began it", time.Since(changed))
	case <-time.After(20 * time.Second):
		t.Fatal("B did not hear of the password change")
	}
	// B's follower applies the change right after publishing it.
	var gerr error
	for i := 0; i < 50; i++ {
		if _, gerr = guard.Authenticate(ctx, "imap", "192.0.2.9:1000", "dave", "new-pw"); !errors.Is(gerr, authguard.ErrThrottled) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if gerr != nil {
		t.Errorf("new password on B's guard after the change on A: %v", gerr)
	}
	if d := time.Since(failed); d > 900*time.Millisecond {
		t.Logf("the guard check took %v: the failure's one-second gap may have passed by itself", d)
	}
	if err := imapLogin(t, b.Addr(t, "imap", "tcp"), "dave", "new-pw"); err != nil {
		t.Errorf("IMAP on B with the password set on A: %v", err)
	}
	if err := imapLogin(t, b.Addr(t, "imap", "tcp"), "dave", "old-pw"); err == nil {
		t.Error("IMAP on B still accepts the old password")
	}

	// dave is logged in on B when A removes him: the session ends.
	c, err := imapclient.DialInsecure(b.Addr(t, "imap", "tcp"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("dave", "new-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	if err := cli.DeleteUser(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
		t.Logf("dave's IMAP session on B closed %v after his removal began on A", time.Since(removed))
	case <-time.After(20 * time.Second):
		t.Fatal("dave's IMAP session on B still open 20 s after his removal on A")
	}
	if err := imapLogin(t, b.Addr(t, "imap", "tcp"), "dave", "new-pw"); err == nil {
		t.Error("removed user logs in on B")
	}
	if err := imapLogin(t, a.Addr(t, "imap", "tcp"), "dave", "new-pw"); err == nil {
		t.Error("removed user logs in on A")
	}
}

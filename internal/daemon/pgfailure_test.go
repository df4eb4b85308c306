package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
)

// line is one connection of a hand-typed protocol session.
type line struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialLine(t *testing.T, addr string) *line {
	t.Helper()
	c := labtest.Dial(t, addr)
	l := &line{t: t, c: c, r: bufio.NewReader(c)}
	l.read() // greeting
	return l
}

func (l *line) read() string {
	l.t.Helper()
	l.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	s, err := l.r.ReadString('\n')
	if err != nil {
		l.t.Fatalf("read: %v (got %q)", err, s)
	}
	return s
}

// imap sends a tagged command and returns every line up to its tagged
// answer.
func (l *line) imap(tag, cmd string) string {
	l.t.Helper()
	fmt.Fprintf(l.c, "%s %s\r\n", tag, cmd)
	var b strings.Builder
	for {
		s := l.read()
		b.WriteString(s)
		if strings.HasPrefix(s, tag+" ") {
			return b.String()
		}
	}
}

// pop3 sends a command and returns its status line; for a +OK to RETR it
// reads the message up to the final dot.
func (l *line) pop3(cmd string) string {
	l.t.Helper()
	fmt.Fprintf(l.c, "%s\r\n", cmd)
	s := l.read()
	if strings.HasPrefix(cmd, "RETR") && strings.HasPrefix(s, "+OK") {
		for l.read() != ".\r\n" {
		}
	}
	return s
}

// retry repeats try until it says yes, within a deadline far longer than
// the pool needs to replace the connections the restart killed.
func retry(t *testing.T, what string, try func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		ok, got := try()
		if ok {
			t.Logf("%s: works again at attempt %d", what, attempt)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing 30 s after the database came back: %q", what, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// PostgreSQL stopped under connected IMAP and POP3 clients: every command
// that needs the database answers a temporary failure (NO [UNAVAILABLE],
// -ERR [SYS/TEMP]), logins too, without closing the connections; once the
// database is back the same connections work again, without a labd
// restart, and nothing was lost.
func TestDatabaseRestartUnderIMAPAndPOP3(t *testing.T) {
	cfg := config.LabEphemeral(t.TempDir())
	cfg.Store = config.Store{Driver: "postgres", DSN: labtest.Postgres(t)}
	d := labtest.StartDaemon(t, cfg)
	ctx := context.Background()
	if err := d.Deps.Store.CreateUser(ctx, "dave", "dave", false); err != nil {
		t.Fatal(err)
	}
	if err := d.Deps.Store.Deliver(ctx, []string{"dave"}, []byte("Subject: kept\r\n\r\nkept across the restart\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	imapAddr, pop3Addr := d.Addr(t, "imap", "tcp"), d.Addr(t, "pop3", "tcp")

	im := dialLine(t, imapAddr)
	if got := im.imap("a", "LOGIN dave dave"); !strings.Contains(got, "a OK") {
		t.Fatalf("IMAP LOGIN: %q", got)
	}
	if got := im.imap("b", "SELECT INBOX"); !strings.Contains(got, "* 1 EXISTS") {
		t.Fatalf("IMAP SELECT: %q", got)
	}
	pop := dialLine(t, pop3Addr)
	pop.pop3("USER dave")
	if got := pop.pop3("PASS dave"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("POP3 PASS: %q", got)
	}

	labtest.RestartPostgres(t, func() {
		for _, c := range []struct{ cmd, want string }{
			{"FETCH 1 (FLAGS BODY.PEEK[])", "c NO [UNAVAILABLE]"},
			{"STATUS INBOX (MESSAGES)", "c NO [UNAVAILABLE]"},
			{`LIST "" "*"`, "c NO [UNAVAILABLE]"},
			{"SELECT INBOX", "c NO [UNAVAILABLE]"},
		} {
			if got := im.imap("c", c.cmd); !strings.Contains(got, c.want) {
				t.Errorf("IMAP %s with the database down: %q, want %q", c.cmd, got, c.want)
			}
		}
		im2 := dialLine(t, imapAddr)
		if got := im2.imap("a", "LOGIN dave dave"); !strings.HasPrefix(got, "a NO [UNAVAILABLE]") {
			t.Errorf("IMAP LOGIN with the database down: %q", got)
		}
		if got := pop.pop3("RETR 1"); !strings.HasPrefix(got, "-ERR [SYS/TEMP]") {
			t.Errorf("POP3 RETR with the database down: %q", got)
		}
		pop2 := dialLine(t, pop3Addr)
		pop2.pop3("USER dave")
		if got := pop2.pop3("PASS dave"); !strings.HasPrefix(got, "-ERR [SYS/TEMP]") {
			t.Errorf("POP3 PASS with the database down: %q", got)
		}
	})

	retry(t, "IMAP SELECT on the same connection", func() (bool, string) {
		got := im.imap("d", "SELECT INBOX")
		return strings.Contains(got, "* 1 EXISTS") && strings.Contains(got, "d OK"), got
	})
	if got := im.imap("e", "FETCH 1 BODY.PEEK[TEXT]"); !strings.Contains(got, "kept across the restart") {
		t.Errorf("IMAP FETCH after the restart: %q", got)
	}
	retry(t, "POP3 RETR on the same connection", func() (bool, string) {
		got := pop.pop3("RETR 1")
		return strings.HasPrefix(got, "+OK"), got
	})
	retry(t, "IMAP LOGIN on a new connection", func() (bool, string) {
		got := dialLine(t, imapAddr).imap("a", "LOGIN dave dave")
		return strings.Contains(got, "a OK"), got
	})
}

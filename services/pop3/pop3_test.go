package pop3_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	pop3svc "labd/services/pop3"
)

type env struct {
	plain, secure string
	deps          service.Deps
}

func start(t *testing.T, edit ...func(*config.Config)) env {
	t.Helper()
	cfg := labtest.Config(t)
	for _, f := range edit {
		f(cfg)
	}
	return startWith(t, labtest.Deps(t, cfg))
}

func startWith(t *testing.T, d service.Deps) env {
	t.Helper()
	svc, err := pop3svc.NewService(d)
	if err != nil {
		t.Fatal(err)
	}
	svc.AuthFailDelay = time.Millisecond
	eps := labtest.Start(t, svc)
	return env{labtest.Addr(t, eps, "pop3", "tcp"), labtest.Addr(t, eps, "pop3s", "tcp"), d}
}

func deliver(t *testing.T, d service.Deps, user string, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := d.Store.Deliver(context.Background(), []string{user}, []byte(m), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, d service.Deps, user string) int {
	t.Helper()
	ctx := context.Background()
	mb, err := d.Store.Mailbox(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := d.Store.Messages(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

type dialog struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func open(t *testing.T, addr string) *dialog {
	t.Helper()
	d := &dialog{t: t, c: labtest.Dial(t, addr)}
	d.br = bufio.NewReader(d.c)
	d.expect("+OK ")
	return d
}

func openTLS(t *testing.T, addr string, deps service.Deps) *dialog {
	t.Helper()
	c := labtest.Dial(t, addr)
	tc := tls.Client(c, &tls.Config{RootCAs: deps.TLS.CertPool(), ServerName: "localhost"})
	d := &dialog{t: t, c: tc, br: bufio.NewReader(tc)}
	d.expect("+OK ")
	return d
}

func (d *dialog) line() string {
	d.t.Helper()
	l, err := d.br.ReadString('\n')
	if err != nil {
		d.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		d.t.Fatalf("line not CRLF-terminated: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	l := d.line()
	if !strings.HasPrefix(l, prefix) {
		d.t.Fatalf("want %q..., got %q", prefix, l)
	}
	return l
}

func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := io.WriteString(d.c, s); err != nil {
		d.t.Fatal(err)
	}
}

// cmd sends a line ending with a bare LF (nc) and checks the status line.
func (d *dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line + "\n")
	return d.expect(prefix)
}

// multi reads the lines of a multi-line response up to "." (raw, still
// byte-stuffed).
func (d *dialog) multi() []string {
	d.t.Helper()
	var out []string
	for {
		l := d.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

const msg1 = "From: alice@lab.test\r\nSubject: one\r\n\r\nfirst body\r\n.starts with a dot\r\nthird\r\n"
const msg2 = "From: bob@lab.test\r\nSubject: two\r\n\r\nsecond\r\n"

func TestSessionLikeTheExercise(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	d := open(t, e.plain)
	d.cmd("capa", "+OK")
	caps := strings.Join(d.multi(), "|")
	for _, c := range []string{"TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING", "SASL PLAIN", "STLS", "IMPLEMENTATION labd"} {
		if !strings.Contains(caps, c) {
			t.Errorf("CAPA lacks %s: %s", c, caps)
		}
	}
	d.cmd("STAT", "-ERR STAT is only valid after login")
	d.cmd("PASS alice", "-ERR send USER name first")
	d.cmd("USER alice", "+OK")
	d.cmd("PASS wrong", "-ERR [AUTH] wrong user name or password")
	d.cmd("user alice", "+OK")
	d.cmd("pass alice", "+OK alice's maildrop has 2 messages")
	d.cmd("USER bob", "-ERR already logged in")
	d.cmd("FROB", `-ERR unknown command "FROB"`)
	stat := d.cmd("STAT", "+OK 2 ")
	if want := len(msg1) + len(msg2); stat != "+OK 2 "+itoa(want) {
		t.Errorf("STAT = %q, want size %d", stat, want)
	}
	d.cmd("LIST", "+OK 2 messages")
	if got := d.multi(); len(got) != 2 || got[0] != "1 "+itoa(len(msg1)) || got[1] != "2 "+itoa(len(msg2)) {
		t.Errorf("LIST = %q", got)
	}
	d.cmd("LIST 2", "+OK 2 "+itoa(len(msg2)))
	d.cmd("LIST 3", "-ERR no such message")
	d.cmd("UIDL", "+OK")
	uidl := d.multi()
	if len(uidl) != 2 || !strings.HasPrefix(uidl[0], "1 ") || uidl[0][2:] == uidl[1][2:] {
		t.Errorf("UIDL = %q", uidl)
	}
	d.cmd("TOP 1 0", "+OK")
	if got := d.multi(); strings.Join(got, "\n") != "From: alice@lab.test\nSubject: one\n" {
		t.Errorf("TOP 1 0 = %q", got)
	}
	d.cmd("TOP 1 2", "+OK")
	if got := d.multi(); len(got) != 5 || got[4] != "..starts with a dot" {
		t.Errorf("TOP 1 2 = %q (want the dot line stuffed)", got)
	}
	d.cmd("RETR 1", "+OK "+itoa(len(msg1))+" octets")
	got := d.multi()
	if got[4] != "..starts with a dot" {
		t.Errorf("RETR did not byte-stuff: %q", got)
	}
	if unstuffed := unstuff(got); unstuffed != msg1 {
		t.Errorf("RETR 1 = %q, want %q", unstuffed, msg1)
	}
	d.cmd("DELE 1", "+OK message 1 marked deleted")
	d.cmd("RETR 1", "-ERR message 1 is marked deleted")
	d.cmd("STAT", "+OK 1 ")
	d.cmd("RSET", "+OK maildrop has 2 messages")
	d.cmd("DELE 2", "+OK")
	d.cmd("NOOP", "+OK")
	if n := count(t, e.deps, "alice"); n != 2 {
		t.Fatalf("DELE removed a message before QUIT: %d left", n)
	}
	d.cmd("QUIT", "+OK labd POP3 server signing off (1 messages deleted, 1 left)")
	if n := count(t, e.deps, "alice"); n != 1 {
		t.Fatalf("after QUIT alice has %d messages, want 1", n)
	}
	// The remaining message is the first one, and it was marked \Seen by RETR.
	d = open(t, e.plain)
	d.cmd("USER alice", "+OK")
	d.cmd("PASS alice", "+OK alice's maildrop has 1 messages")
	d.cmd("TOP 1 0", "+OK")
	if got := d.multi(); got[1] != "Subject: one" {
		t.Errorf("wrong message left: %q", got)
	}
}

func unstuff(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestDeleWithoutQuitKeepsMessages(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "bob", msg1)
	d := open(t, e.plain)
	d.cmd("USER bob", "+OK")
	d.cmd("PASS bob", "+OK")
	d.cmd("DELE 1", "+OK")
	d.c.Close()
	// The session ends without UPDATE; a new login (which needs the lock
	// released) still sees the message.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d = open(t, e.plain)
		d.cmd("USER bob", "+OK")
		d.send("PASS bob\n")
		l := d.line()
		if strings.HasPrefix(l, "+OK bob's maildrop has 1 messages") {
			break
		}
		if !strings.Contains(l, "[IN-USE]") || time.Now().After(deadline) {
			t.Fatalf("after a dropped connection: %q", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(t, e.deps, "bob"); n != 1 {
		t.Fatalf("bob has %d messages, want 1", n)
	}
}

func TestInUse(t *testing.T) {
	e := start(t)
	a := open(t, e.plain)
	a.cmd("USER alice", "+OK")
	a.cmd("PASS alice", "+OK")
	b := open(t, e.plain)
	b.cmd("USER alice", "+OK")
	b.cmd("PASS alice", "-ERR [IN-USE]")
	b.cmd("STAT", "-ERR STAT is only valid after login")
	a.cmd("QUIT", "+OK")
	// Wait for the first session to release the lock.
	a.br.ReadString('\n')
	b.cmd("USER alice", "+OK")
	b.cmd("PASS alice", "+OK")
}

func TestAuthPlain(t *testing.T) {
	e := start(t)
	good := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice"))
	bad := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00nope"))
	d := open(t, e.plain)
	d.cmd("AUTH PLAIN "+bad, "-ERR [AUTH]")
	d.cmd("AUTH PLAIN", "+ ")
	d.cmd("*", "-ERR AUTH cancelled")
	d.cmd("AUTH PLAIN", "+ ")
	d.cmd(good, "+OK alice's maildrop")
	d.cmd("QUIT", "+OK")

	d = open(t, e.plain)
	d.cmd("AUTH PLAIN "+good, "+OK alice's maildrop")
}

func TestTooManyFailuresDisconnect(t *testing.T) {
	e := start(t)
	d := open(t, e.plain)
	for i := 0; i < 2; i++ {
		d.cmd("USER alice", "+OK")
		d.cmd("PASS x", "-ERR [AUTH]")
	}
	d.cmd("USER alice", "+OK")
	d.cmd("PASS x", "-ERR [AUTH] wrong user name or password; too many failures")
	if _, err := d.br.ReadString('\n'); err != io.EOF {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestLineTooLongAndPipelining(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg2)
	d := open(t, e.plain)
	d.cmd("USER "+strings.Repeat("x", 5000), "-ERR line too long")
	// Pipelined commands in one write, CRLF this time.
	d.send("USER alice\r\nPASS alice\r\nSTAT\r\nQUIT\r\n")
	d.expect("+OK")
	d.expect("+OK alice's maildrop has 1 messages")
	d.expect("+OK 1 ")
	d.expect("+OK labd POP3 server signing off")
}

func TestTLS(t *testing.T) {
	e := start(t, func(c *config.Config) { c.POP3.RequireTLSForAuth = true })
	t.Run("STLS on 110", func(t *testing.T) {
		d := open(t, e.plain)
		d.cmd("USER alice", "-ERR [AUTH] logging in over plain text is disabled")
		d.cmd("CAPA", "+OK")
		if caps := strings.Join(d.multi(), " "); strings.Contains(caps, "USER") || !strings.Contains(caps, "STLS") {
			t.Errorf("CAPA before STLS with require_tls_for_auth: %s", caps)
		}
		d.cmd("STLS", "+OK Begin TLS")
		tc := tls.Client(d.c, &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		d.c, d.br = tc, bufio.NewReader(tc)
		d.cmd("CAPA", "+OK")
		if caps := strings.Join(d.multi(), " "); !strings.Contains(caps, "USER") || strings.Contains(caps, "STLS") {
			t.Errorf("CAPA after STLS: %s", caps)
		}
		d.cmd("STLS", "-ERR TLS is already active")
		d.cmd("USER alice", "+OK")
		d.cmd("PASS alice", "+OK")
	})
	t.Run("implicit TLS on 995", func(t *testing.T) {
		d := openTLS(t, e.secure, e.deps)
		d.cmd("USER bob", "+OK")
		d.cmd("PASS bob", "+OK bob's maildrop")
		d.cmd("QUIT", "+OK")
	})
}

func TestIdleTimeout(t *testing.T) {
	e := start(t, func(c *config.Config) { c.POP3.IdleTimeout = config.Duration(2 * time.Second) })
	deliver(t, e.deps, "alice", msg1)
	d := open(t, e.plain)
	d.cmd("USER alice", "+OK")
	d.cmd("PASS alice", "+OK")
	d.cmd("DELE 1", "+OK")
	d.expect("-ERR idle for 2s, closing the connection (no message was deleted)")
	if _, err := d.br.ReadString('\n'); err != io.EOF {
		t.Errorf("connection not closed after the idle timeout: %v", err)
	}
	if n := count(t, e.deps, "alice"); n != 1 {
		t.Errorf("idle timeout deleted messages: %d left", n)
	}
}

func TestShutdown(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.Deps(t, cfg)
	deliver(t, d, "alice", msg1)
	svc, _ := pop3svc.NewService(d)
	eps, err := svc.Bind()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	dl := open(t, labtest.Addr(t, eps, "pop3", "tcp"))
	dl.cmd("USER alice", "+OK")
	dl.cmd("PASS alice", "+OK")
	dl.cmd("DELE 1", "+OK")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer scancel()
	svc.Shutdown(sctx)
	if _, err := dl.br.ReadString('\n'); err == nil {
		t.Error("session still open after Shutdown")
	}
	if n := count(t, d, "alice"); n != 1 {
		t.Errorf("shutdown applied DELE: %d left", n)
	}
}

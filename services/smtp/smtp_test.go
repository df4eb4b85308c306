package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	smtpsvc "labd/services/smtp"
)

type env struct {
	mx, sub, smtps string
	deps           service.Deps
}

func start(t *testing.T, edit ...func(*config.Config)) env {
	t.Helper()
	cfg := labtest.Config(t)
	for _, f := range edit {
		f(cfg)
	}
	d := labtest.Deps(t, cfg)
	svc, err := smtpsvc.NewService(d)
	if err != nil {
		t.Fatal(err)
	}
	svc.AuthFailDelay = time.Millisecond
	eps := labtest.Start(t, svc)
	return env{labtest.Addr(t, eps, "smtp", "tcp"), labtest.Addr(t, eps, "submission", "tcp"), labtest.Addr(t, eps, "smtps", "tcp"), d}
}

// dialog is a hand-typed session: send writes a line ending with the given
// line end, expect reads one (multi-line) reply.
type dialog struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func open(t *testing.T, addr string) *dialog {
	t.Helper()
	c := labtest.Dial(t, addr)
	d := &dialog{t: t, c: c, br: bufio.NewReader(c)}
	d.expect("220 ")
	return d
}

func (d *dialog) reply() string {
	d.t.Helper()
	var b strings.Builder
	for {
		line, err := d.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			d.t.Fatalf("read reply: %v (got %q)", err, b.String())
		}
		if len(line) < 4 || line[3] != '-' {
			return b.String()
		}
	}
}

// expect reads a reply and checks that it starts with prefix.
func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	r := d.reply()
	if !strings.HasPrefix(r, prefix) {
		d.t.Fatalf("want reply %q..., got %q", prefix, r)
	}
	return r
}

// cmd sends one line with a bare LF (as nc does) and expects a reply.
func (d *dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line + "\n")
	return d.expect(prefix)
}

func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := d.c.Write([]byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

func (d *dialog) starttls(t *testing.T, deps service.Deps) {
	t.Helper()
	d.cmd("STARTTLS", "220 ")
	tc := tls.Client(d.c, &tls.Config{RootCAs: deps.TLS.CertPool(), ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	d.c = tc
	d.br = bufio.NewReader(tc)
}

func inbox(t *testing.T, deps service.Deps, user string) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := deps.Store.Mailbox(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := deps.Store.Messages(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := deps.Store.Body(ctx, mb.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestHandTypedBareLF(t *testing.T) {
	e := start(t)
	d := open(t, e.mx)
	ehlo := d.cmd("EHLO student.lab.test", "250-")
	for _, want := range []string{"SIZE ", "8BITMIME", "PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES", "SMTPUTF8"} {
		if !strings.Contains(ehlo, want) {
			t.Errorf("EHLO lacks %s:\n%s", want, ehlo)
		}
	}
	if strings.Contains(ehlo, "CHUNKING") {
		t.Errorf("EHLO advertises CHUNKING:\n%s", ehlo)
	}
	d.cmd("HELP", "214")
	d.cmd("NOOP", "250 ")
	d.cmd("VRFY alice", "252 ")
	d.cmd("FOO bar", "500 5.5.1 Unknown command")
	d.cmd("", "500 5.5.2 Empty line")
	d.cmd("mail from:<eve@evil.example> ", "250 ")
	d.cmd("RCPT TO:<Alice+lab@LAB.TEST>", "250 ")
	d.cmd("RCPT TO:<nobody@lab.test>", "550 5.1.1")
	d.cmd("RCPT TO:<bob@lab.test>", "250 ")
	d.cmd("RCPT TO:<alice@lab.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.send("From: The President <president@example.org>\nSubject: hand typed\n\nline one\n..dot line\n.\n")
	r := d.expect("250 2.0.0 Ok: delivered to 2 mailbox(es)")
	d.cmd("QUIT", "221 ")
	_ = r
	for _, u := range []string{"alice", "bob"} {
		msgs := inbox(t, e.deps, u)
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages, want 1", u, len(msgs))
		}
		m := msgs[0]
		for _, want := range []string{"Return-Path: <eve@evil.example>\r\n", "Received: from student.lab.test ([127.0.0.1])", "with ESMTP id ", "(not authenticated: the From: header is whatever the client wrote)", "From: The President <president@example.org>\r\n", "Subject: hand typed\r\n\r\nline one\r\n.dot line\r\n"} {
			if !strings.Contains(m, want) {
				t.Errorf("%s's message lacks %q:\n%s", u, want, m)
			}
		}
		if strings.Contains(m, "\n.\r\n") || strings.Contains(strings.ReplaceAll(m, "\r\n", ""), "\n") {
			t.Errorf("stored message has the end marker or a bare LF: %q", m)
		}
	}
}

func TestRefusals(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.SMTP.MaxMessageBytes = 2000
		c.SMTP.MaxRecipients = 2
	})
	t.Run("relay denied without auth", func(t *testing.T) {
		d := open(t, e.mx)
		d.cmd("HELO x", "250 ")
		d.cmd("MAIL FROM:<alice@lab.test>", "250 ")
		d.cmd("RCPT TO:<someone@gmail.com>", "554 5.7.1 <someone@gmail.com>: Relay access denied")
		d.cmd("RCPT TO:<nobody@lab.test>", "550 5.1.1")
		d.cmd("RCPT TO:<postmaster>", "550 5.1.1 <postmaster@lab.test>")
		d.cmd("QUIT", "221 ")
	})
	t.Run("no relay even when authenticated", func(t *testing.T) {
		d := open(t, e.sub)
		d.cmd("EHLO x", "250")
		d.cmd("AUTH PLAIN "+plain("alice", "alice"), "235 ")
		d.cmd("MAIL FROM:<alice@lab.test>", "250 ")
		d.cmd("RCPT TO:<someone@gmail.com>", "550 5.7.1 <someone@gmail.com>: labd does not relay mail outside the lab")
	})
	t.Run("oversize", func(t *testing.T) {
		d := open(t, e.mx)
		d.cmd("EHLO x", "250")
		d.cmd("MAIL FROM:<a@b.c> SIZE=5000", "552 5.3.4")
		d.cmd("MAIL FROM:<a@b.c>", "250 ")
		d.cmd("RCPT TO:<bob@lab.test>", "250 ")
		d.cmd("DATA", "354 ")
		d.send("Subject: big\n\n" + strings.Repeat("0123456789\n", 300) + ".\n")
		d.expect("552 5.3.4")
		d.cmd("NOOP", "250 ")
		if n := len(inbox(t, e.deps, "bob")); n != 0 {
			t.Errorf("oversize message stored (%d)", n)
		}
	})
	t.Run("max recipients", func(t *testing.T) {
		d := open(t, e.mx)
		d.cmd("HELO x", "250 ")
		d.cmd("MAIL FROM:<a@b.c>", "250 ")
		d.cmd("RCPT TO:<bob@lab.test>", "250 ")
		d.cmd("RCPT TO:<alice@lab.test>", "250 ")
		d.cmd("RCPT TO:<bob@lab.test>", "452 4.5.3")
	})
	t.Run("commands out of order", func(t *testing.T) {
		d := open(t, e.mx)
		d.cmd("MAIL FROM:<a@b.c>", "502 ")
		d.cmd("HELO x", "250 ")
		d.cmd("RCPT TO:<bob@lab.test>", "502 5.5.1 Missing MAIL FROM")
		d.cmd("DATA", "502 5.5.1 Missing RCPT TO")
		d.cmd("BDAT 10 LAST", "502 5.5.1 BDAT")
		for i := 0; i < 5; i++ {
			d.cmd("XYZZY", "500 5.5.1 Unknown command")
		}
		d.cmd("NOOP", "250 ")
	})
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestSubmissionAuth(t *testing.T) {
	e := start(t)
	t.Run("MAIL without AUTH", func(t *testing.T) {
		d := open(t, e.sub)
		d.cmd("EHLO x", "250")
		d.cmd("MAIL FROM:<alice@lab.test>", "530 5.7.0 Authentication required")
	})
	t.Run("AUTH PLAIN", func(t *testing.T) {
		d := open(t, e.sub)
		d.cmd("EHLO x", "250")
		d.cmd("AUTH PLAIN "+plain("alice", "bad"), "535 5.7.8")
		d.cmd("AUTH PLAIN", "334 ")
		d.cmd(plain("alice", "alice"), "235 ")
		d.cmd("MAIL FROM:<alice@lab.test>", "250 ")
		d.cmd("RCPT TO:<bob@lab.test>", "250 ")
		d.cmd("DATA", "354 ")
		d.send("Subject: from 587\n\nhi\n.\n")
		d.expect("250 ")
		m := inbox(t, e.deps, "bob")
		if len(m) != 1 || !strings.Contains(m[0], "with ESMTPA id") || !strings.Contains(m[0], "(authenticated as alice)") {
			t.Errorf("message: %q", m)
		}
	})
	t.Run("AUTH LOGIN", func(t *testing.T) {
		d := open(t, e.sub)
		d.cmd("EHLO x", "250")
		d.cmd("AUTH LOGIN", "334 "+b64("Username:"))
		d.cmd(b64("bob"), "334 "+b64("Password:"))
		d.cmd(b64("wrong"), "535 5.7.8")
		d.cmd("AUTH LOGIN "+b64("bob"), "334 "+b64("Password:"))
		d.cmd(b64("bob"), "235 ")
		d.cmd("MAIL FROM:<bob@lab.test>", "250 ")
	})
	t.Run("three failures close", func(t *testing.T) {
		d := open(t, e.sub)
		d.cmd("EHLO x", "250")
		d.cmd("AUTH PLAIN "+plain("alice", "1"), "535 ")
		d.cmd("AUTH PLAIN "+plain("alice", "2"), "535 ")
		d.cmd("AUTH PLAIN "+plain("alice", "3"), "535 5.7.8 Authentication failed: wrong user name or password; too many")
		if _, err := d.br.ReadString('\n'); err == nil {
			t.Error("connection still open")
		}
	})
}

func TestTLS(t *testing.T) {
	e := start(t, func(c *config.Config) { c.SMTP.RequireTLSForAuth = true })
	for _, addr := range []struct{ name, addr string }{{"25", e.mx}, {"587", e.sub}} {
		t.Run("STARTTLS on "+addr.name, func(t *testing.T) {
			d := open(t, addr.addr)
			ehlo := d.cmd("EHLO x", "250")
			if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
				t.Errorf("EHLO before TLS with require_tls_for_auth:\n%s", ehlo)
			}
			d.cmd("AUTH PLAIN "+plain("alice", "alice"), "538 5.7.11")
			d.starttls(t, e.deps)
			ehlo = d.cmd("EHLO x", "250")
			if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
				t.Errorf("EHLO after TLS:\n%s", ehlo)
			}
			d.cmd("STARTTLS", "503 ")
			d.cmd("AUTH PLAIN "+plain("alice", "alice"), "235 ")
			d.cmd("MAIL FROM:<alice@lab.test>", "250 ")
			d.cmd("RCPT TO:<bob@lab.test>", "250 ")
			d.cmd("DATA", "354 ")
			// Bare LF after STARTTLS too (openssl s_client without -crlf).
			d.send("Subject: tls " + addr.name + "\n\nsecret\n.\n")
			d.expect("250 ")
		})
	}
	t.Run("implicit TLS on 465 with go-smtp's client", func(t *testing.T) {
		c, err := gosmtp.DialTLS(e.smtps, &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Error("STARTTLS advertised on 465")
		}
		if err := c.Auth(sasl.NewPlainClient("", "alice", "alice")); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("alice@lab.test", []string{"bob@lab.test"}, strings.NewReader("Subject: 465\r\n\r\nover TLS\r\n")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("STARTTLS with go-smtp's client on 587", func(t *testing.T) {
		c, err := gosmtp.DialStartTLS(e.sub, &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewLoginClient("bob", "bob")); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("bob@lab.test", []string{"alice@lab.test"}, strings.NewReader("Subject: 587\r\n\r\nhello\r\n")); err != nil {
			t.Fatal(err)
		}
	})
	var tlsMsgs int
	for _, m := range append(inbox(t, e.deps, "bob"), inbox(t, e.deps, "alice")...) {
		if strings.Contains(m, "with ESMTPSA id") {
			tlsMsgs++
		}
	}
	if tlsMsgs != 4 {
		t.Errorf("%d messages received with ESMTPSA, want 4", tlsMsgs)
	}
}

func TestVrfyOn(t *testing.T) {
	e := start(t, func(c *config.Config) { c.SMTP.Vrfy = true })
	d := open(t, e.mx)
	d.cmd("VRFY Alice", "250 2.1.5 alice <alice@lab.test>")
	d.cmd("VRFY <nobody@lab.test>", "550 5.1.1")
	d.cmd("VRFY x@gmail.com", "551 ")
}

func TestPerIPLimit(t *testing.T) {
	e := start(t, func(c *config.Config) { c.SMTP.MaxConnsPerIP = 1 })
	open(t, e.mx)
	c := labtest.Dial(t, e.mx)
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.7.0 ") {
		t.Fatalf("second connection got %q", line)
	}
}

func TestIdleTimeoutResetsPerLine(t *testing.T) {
	const timeout = 2 * time.Second
	e := start(t, func(c *config.Config) { c.SMTP.ReadTimeout = config.Duration(timeout) })
	d := open(t, e.mx)
	d.cmd("HELO slow", "250 ")
	d.cmd("MAIL FROM:<a@b.c>", "250 ")
	d.cmd("RCPT TO:<alice@lab.test>", "250 ")
	d.cmd("DATA", "354 ")
	// A slow typist: the whole DATA takes longer than read_timeout, but
	// each pause is a sixth of it (a margin a loaded machine keeps). The
	// sleep is the scenario (a pause), not a synchronisation.
	for i := 0; i < 7; i++ {
		d.send("line\n")
		time.Sleep(timeout / 6)
	}
	d.send(".\n")
	d.expect("250 ")
	d.expect("421 4.4.2") // then idle: the server says why it closes
}

func TestShutdownClean(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.Deps(t, cfg)
	svc, err := smtpsvc.NewService(d)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := svc.Bind()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	addr := labtest.Addr(t, eps, "smtp", "tcp")
	dl := open(t, addr)
	dl.cmd("HELO x", "250 ")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// An open session is closed when the grace period ends.
	sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer scancel()
	if err := svc.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := dl.br.ReadString('\n'); err == nil {
		t.Error("session still open after Shutdown")
	}
	// Shutdown without Serve releases the sockets.
	svc2, _ := smtpsvc.NewService(labtest.Deps(t, labtest.Config(t)))
	eps2, err := svc2.Bind()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc2.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown without Serve: %v", err)
	}
	ln, err := net.Listen("tcp", labtest.Addr(t, eps2, "smtp", "tcp"))
	if err != nil {
		t.Fatalf("socket not released: %v", err)
	}
	ln.Close()
}

// The session registry (labd sessions, the dashboard) shows who logged in,
// that TLS started, and the transcript up to STARTTLS in clear.
func TestSessionRegistry(t *testing.T) {
	e := start(t)
	d := open(t, e.sub)
	d.cmd("EHLO pc1", "250")
	d.starttls(t, e.deps)
	d.cmd("EHLO pc1", "250")
	d.cmd("AUTH PLAIN "+plain("bob", "bob"), "235 ")
	d.cmd("QUIT", "221 ")
	d.br.ReadString('\n')
	deadline := time.Now().Add(5 * time.Second)
	for {
		var found bool
		for _, info := range e.deps.Sessions.List() {
			if info.Proto == "submission" && info.User == "bob" && info.TLS {
				found = true
				s, _ := e.deps.Sessions.Get(info.ID)
				var clear strings.Builder
				for _, en := range s.Transcript() {
					clear.Write(en.Data)
				}
				if !strings.Contains(clear.String(), "STARTTLS\n") || strings.Contains(clear.String(), plain("bob", "bob")) {
					t.Errorf("transcript in clear: %q", clear.String())
				}
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no submission session of bob with TLS in %+v", e.deps.Sessions.List())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// After STARTTLS every command gets its own answer (the hidden RSET's
// reply, not the client's, is the one dropped), EHLO's first line is the
// greeting, a login made in clear cannot be carried into TLS, and a DATA
// line ending in CR CR LF does not desynchronise the end of the message.
func TestStartTLSKeepsRepliesInStep(t *testing.T) {
	e := start(t)
	d := open(t, e.mx)
	d.cmd("EHLO x", "250")
	d.starttls(t, e.deps)
	d.cmd("HELO y", "250 ")
	if ehlo := d.cmd("EHLO z", "250"); !strings.HasPrefix(ehlo, "250-") || !strings.Contains(ehlo, "PIPELINING") {
		t.Errorf("EHLO after STARTTLS:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<alice@lab.test>", "250 ")
	d.cmd("RCPT TO:<bob@lab.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.send("Subject: cr\r\n\r\nline with two CRs\r\r\n.\r\n")
	d.expect("250 ")

	s := open(t, e.sub)
	s.cmd("EHLO x", "250")
	s.cmd("AUTH PLAIN "+plain("alice", "alice"), "235 ")
	s.cmd("STARTTLS", "503 ")
}

// Recipients found are kept between RCPTs, but a user removed or added
// meanwhile is answered as the store says at once: the removal's event
// forgets what was kept.
func TestRecipientCacheFollowsUserChanges(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if err := e.deps.Store.CreateUser(ctx, "carol", "carol", false); err != nil {
		t.Fatal(err)
	}
	d := open(t, e.mx)
	d.cmd("HELO x", "250 ")
	d.cmd("MAIL FROM:<a@b.c>", "250 ")
	d.cmd("RCPT TO:<carol@lab.test>", "250 ")
	d.cmd("RSET", "250 ")
	d.cmd("MAIL FROM:<a@b.c>", "250 ")
	d.cmd("RCPT TO:<Carol+x@lab.test>", "250 ")
	d.cmd("RSET", "250 ")
	if err := e.deps.Store.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@b.c>", "250 ")
	d.cmd("RCPT TO:<carol@lab.test>", "550 5.1.1")
	d.cmd("RSET", "250 ")
	if err := e.deps.Store.CreateUser(ctx, "carol", "carol", false); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@b.c>", "250 ")
	d.cmd("RCPT TO:<carol@lab.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.send("Subject: back\r\n\r\nhello\r\n.\r\n")
	d.expect("250 ")
	if n := len(inbox(t, e.deps, "carol")); n != 1 {
		t.Fatalf("%d messages for carol, want 1", n)
	}
}

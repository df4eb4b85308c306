package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

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
		for _, want := range []string{"Return-Path: <eve@evil.example>\r\n", "Received: from student.lab.test ([127.0.0.1])", "with ESMTP id ", "Subject: hand typed\r\n\r\nline one\r\n.dot line\r\n"} {
			if !strings.Contains(m, want) {
				t.Errorf("%s's message lacks %q:\n%s", u, want, m)
			}
		}
		if strings.Contains(m, "\n.\r\n") || strings.Contains(strings.ReplaceAll(m, "\r\n", ""), "\n") {
			t.Errorf("stored message has the end marker or a bare LF: %q", m)
		}
	}
}

package pop3_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"labd/internal/labtest"
)

// A MIME message (quoted-printable UTF-8 part, base64 attachment, RFC 2047
// subject) goes in over SMTP with go-smtp's client and comes out of every
// recipient's POP3 maildrop byte for byte, after exactly the two trace
// header fields labd prepends.
func TestMIMEThroughSMTPAndPOP3(t *testing.T) {
	fixture, err := os.ReadFile("../../testdata/mail/mime-attachment.eml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := labtest.Config(t)
	cfg.HTTP.Enabled, cfg.IMAP.Enabled, cfg.DNS.Enabled, cfg.FTP.Enabled = false, false, false, false
	cfg.TFTP.Enabled, cfg.SSH.Enabled, cfg.Telnet.Enabled = false, false, false
	dmn := labtest.StartDaemon(t, cfg)
	if err := dmn.Deps.Store.CreateUser(context.Background(), "carol", "carol", false); err != nil {
		t.Fatal(err)
	}

	c, err := gosmtp.Dial(dmn.Addr(t, "smtp", "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.lab.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@lab.test", &gosmtp.MailOptions{Body: gosmtp.Body8BitMIME, Size: int64(len(fixture))}); err != nil {
		t.Fatal(err)
	}
	// To bob, Cc alice, Bcc carol (Bcc is only in the envelope).
	for _, r := range []string{"bob@lab.test", "alice@lab.test", "Carol@Lab.Test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(fixture); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if resp.StatusText == "" || !strings.Contains(resp.StatusText, "delivered to 3 mailbox(es)") {
		t.Errorf("DATA reply text %q", resp.StatusText)
	}
	c.Quit()

	for _, user := range []string{"alice", "bob", "carol"} {
		d := open(t, dmn.Addr(t, "pop3", "tcp"))
		d.cmd("USER "+user, "+OK")
		d.cmd("PASS "+user, "+OK "+user+"'s maildrop has 1 messages")
		d.cmd("RETR 1", "+OK")
		got := []byte(unstuff(d.multi()))
		d.cmd("QUIT", "+OK")
		if !bytes.HasSuffix(got, fixture) {
			t.Fatalf("%s: the message is not the fixture byte for byte:\n%s", user, got)
		}
		trace := string(got[:len(got)-len(fixture)])
		lines := strings.Split(strings.TrimSuffix(trace, "\r\n"), "\r\n")
		if lines[0] != "Return-Path: <alice@lab.test>" || !strings.HasPrefix(lines[1], "Received: from client.lab.test ([127.0.0.1])") {
			t.Fatalf("%s: trace headers %q", user, trace)
		}
		for _, l := range lines[2:] {
			if !strings.HasPrefix(l, "\t") {
				t.Errorf("%s: more than Return-Path and Received prepended: %q", user, l)
			}
		}
	}
}

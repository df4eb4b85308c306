package imap_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	gosmtp "github.com/emersion/go-smtp"

	"labd/internal/labtest"
)

// The whole daemon: a mail sent over SMTP shows up in an IDLE IMAP session
// within 5 s, and POP3 DELE + QUIT shows up there as EXPUNGE.
func TestDaemonSMTPPOP3IMAP(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.HTTP.Enabled, cfg.DNS.Enabled, cfg.FTP.Enabled = false, false, false
	cfg.TFTP.Enabled, cfg.SSH.Enabled, cfg.Telnet.Enabled = false, false, false
	dmn := labtest.StartDaemon(t, cfg)

	c, u := login(t, dmn.Addr(t, "imap", "tcp"), "alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}

	sc, err := gosmtp.Dial(dmn.Addr(t, "smtp", "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	body := "From: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: via SMTP\r\n\r\nhi\r\n"
	if err := sc.SendMail("bob@lab.test", []string{"alice@lab.test"}, strings.NewReader(body)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	wait(t, u, "EXISTS in IDLE after SMTP", func() bool { return len(u.exists) > 0 && u.exists[len(u.exists)-1] == 1 })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true})
	if len(m) != 1 || m[0].Envelope.Subject != "via SMTP" {
		t.Fatalf("FETCH ENVELOPE after SMTP: %+v", m)
	}

	p := labtest.Dial(t, dmn.Addr(t, "pop3", "tcp"))
	br := bufio.NewReader(p)
	for _, cmd := range []string{"", "USER alice", "PASS alice", "DELE 1", "QUIT"} {
		if cmd != "" {
			fmt.Fprintf(p, "%s\r\n", cmd)
		}
		l, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %q: %q %v", cmd, l, err)
		}
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, u, "EXPUNGE after POP3 DELE+QUIT", func() bool { return len(u.expunged) == 1 && u.expunged[0] == 1 })
}

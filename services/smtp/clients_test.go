package smtp_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"labd/internal/labtest"
)

func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// hasMessage says whether user's INBOX holds a message containing s.
func hasMessage(t *testing.T, e env, user, s string) bool {
	for _, m := range inbox(t, e.deps, user) {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func TestSwaks(t *testing.T) {
	labtest.Tool(t, "swaks")
	e := start(t)
	ca := e.deps.TLS.CAFile
	cases := []struct {
		name, addr string
		args       []string
		with       string
	}{
		{"plain to 25", e.mx, nil, "with ESMTP id"},
		{"STARTTLS on 25", e.mx, []string{"--tls", "--tls-verify", "--tls-ca-path", ca}, "with ESMTPS id"},
		{"AUTH on 587 with STARTTLS", e.sub, []string{"--tls", "--tls-ca-path", ca, "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "alice"}, "with ESMTPSA id"},
		{"AUTH PLAIN on 587 in clear", e.sub, []string{"--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "alice"}, "with ESMTPA id"},
		{"implicit TLS on 465", e.smtps, []string{"--tlsc", "--tls-ca-path", ca, "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "alice"}, "with ESMTPSA id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subject := "swaks " + c.name
			args := append([]string{"--server", c.addr, "--from", "alice@lab.test", "--to", "bob@lab.test",
				"--helo", "swaks.lab.test", "--header", "Subject: " + subject, "--body", "sent by swaks"}, c.args...)
			out := labtest.RunTool(t, "swaks", args...)
			if !strings.Contains(out, "<~  250 2.0.0 Ok: delivered to 1 mailbox(es)") && !strings.Contains(out, "<~ 250 2.0.0 Ok: delivered") && !strings.Contains(out, "<-  250 2.0.0 Ok: delivered") {
				t.Errorf("swaks did not see the delivery:\n%s", out)
			}
			found := false
			for _, m := range inbox(t, e.deps, "bob") {
				if strings.Contains(m, "Subject: "+subject+"\r\n") {
					found = true
					if !strings.Contains(m, c.with) {
						t.Errorf("Received header lacks %q:\n%s", c.with, m)
					}
				}
			}
			if !found {
				t.Errorf("bob did not get %q", subject)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		cmd := exec.Command("swaks", "--server", e.sub, "--from", "alice@lab.test", "--to", "bob@lab.test",
			"--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "nope")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "535 5.7.8") {
			t.Errorf("swaks with a wrong password: %v\n%s", err, out)
		}
	})
}

// curl needs --crlf for a file with LF line ends: it dot-stuffs only lines
// after CRLF, so without it ".leading dot" would lose its dot (a bare LF ends
// a line here, as in Postfix) and the message would get a trailing blank line.
func TestCurlSMTP(t *testing.T) {
	labtest.Tool(t, "curl")
	e := start(t)
	msg := filepath.Join(t.TempDir(), "msg.txt")
	if err := os.WriteFile(msg, []byte("From: alice@lab.test\nTo: bob@lab.test\nSubject: from curl NUM\n\nhello from curl\n.leading dot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, p25 := hostPort(t, e.mx)
	_, p587 := hostPort(t, e.sub)
	_, p465 := hostPort(t, e.smtps)
	cases := []struct {
		name, url string
		args      []string
	}{
		{"smtp 25", "smtp://127.0.0.1:" + p25 + "/curl.lab.test", nil},
		{"smtp 587 STARTTLS AUTH", "smtp://127.0.0.1:" + p587 + "/curl.lab.test", []string{"--ssl-reqd", "--cacert", e.deps.TLS.CAFile, "-u", "alice:alice"}},
		{"smtps 465", "smtps://127.0.0.1:" + p465 + "/curl.lab.test", []string{"--cacert", e.deps.TLS.CAFile, "-u", "alice:alice"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, _ := os.ReadFile(msg)
			f := filepath.Join(t.TempDir(), "m.txt")
			os.WriteFile(f, []byte(strings.Replace(string(body), "NUM", c.name, 1)), 0o644)
			args := append([]string{"-sS", "--max-time", "20", c.url, "--mail-from", "alice@lab.test", "--mail-rcpt", "bob@lab.test", "--crlf", "-T", f}, c.args...)
			labtest.RunTool(t, "curl", args...)
			if !hasMessage(t, e, "bob", "Subject: from curl "+c.name+"\r\n\r\nhello from curl\r\n.leading dot\r\n") {
				t.Errorf("case %d: bob lacks the curl message: %q", i, inbox(t, e.deps, "bob"))
			}
		})
	}
}

func TestPythonSmtplib(t *testing.T) {
	labtest.Tool(t, "python3")
	e := start(t)
	_, p587 := hostPort(t, e.sub)
	_, p465 := hostPort(t, e.smtps)
	_, p25 := hostPort(t, e.mx)
	script := `
import smtplib, ssl, sys
from email.message import EmailMessage
p25, p587, p465, ca = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
def msg(subject):
    m = EmailMessage()
    m["From"] = "alice@lab.test"; m["To"] = "bob@lab.test"; m["Subject"] = subject
    m.set_content("Bonjour, ça marche ?\n")
    return m
with smtplib.SMTP("127.0.0.1", int(p25)) as s:
    s.send_message(msg("py 25"))
with smtplib.SMTP("127.0.0.1", int(p587)) as s:
    s.starttls(context=ctx)
    s.login("alice", "alice")
    s.send_message(msg("py 587"))
with smtplib.SMTP_SSL("127.0.0.1", int(p465), context=ctx) as s:
    s.login("alice", "alice")
    s.send_message(msg("py 465"))
try:
    with smtplib.SMTP("127.0.0.1", int(p587)) as s:
        s.login("alice", "wrong")
except smtplib.SMTPAuthenticationError as e:
    print("auth refused", e.smtp_code)
try:
    with smtplib.SMTP("127.0.0.1", int(p25)) as s:
        s.sendmail("alice@lab.test", ["x@example.com"], "Subject: relay\r\n\r\nx\r\n")
except smtplib.SMTPRecipientsRefused as e:
    print("relay refused", e.recipients["x@example.com"][0])
print("done")
`
	out := labtest.RunTool(t, "python3", "-c", script, p25, p587, p465, e.deps.TLS.CAFile)
	for _, want := range []string{"auth refused 535", "relay refused 554", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("python output lacks %q:\n%s", want, out)
		}
	}
	for _, s := range []string{"py 25", "py 587", "py 465"} {
		if !hasMessage(t, e, "bob", "Subject: "+s+"\r\n") {
			t.Errorf("bob lacks %q", s)
		}
	}
}

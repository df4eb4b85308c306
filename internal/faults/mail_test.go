package faults_test

import (
	"strings"
	"testing"

	"labd/internal/faults"
	"labd/internal/labtest"
)

// python3's poplib and imaplib meet the POP3 and IMAP faults: the
// response codes a client program can act on, for the right user only.
func TestPOP3AndIMAPFaultsWithPython(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	pop := labtest.Port(t, d.Addr(t, "pop3", "tcp"))
	imp := labtest.Port(t, d.Addr(t, "imap", "tcp"))
	py := func(script string) string {
		return labtest.RunTool(t, "python3", "-c", script)
	}
	popLogin := func(user string) string {
		return py(`
import poplib
p = poplib.POP3("127.0.0.1", ` + pop + `, timeout=20)
try:
    p.user("` + user + `"); p.pass_("` + user + `"); print("OK", p.stat())
    try:
        p.stat(); print("STAT2 OK")
    except Exception as e:
        print("STAT2", e)
except poplib.error_proto as e:
    print("ERR", e)
`)
	}
	set(t, d, faults.Fault{Service: "pop3", Kind: "unavailable", User: "bob"})
	if out := popLogin("bob"); !strings.Contains(out, "ERR b'-ERR [SYS/TEMP]") {
		t.Errorf("bob under pop3 unavailable: %s", out)
	}
	if out := popLogin("alice"); !strings.HasPrefix(out, "OK") {
		t.Errorf("alice got bob's fault: %s", out)
	}
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: "pop3", Kind: "inuse"})
	if out := popLogin("alice"); !strings.Contains(out, "[IN-USE]") {
		t.Errorf("pop3 inuse: %s", out)
	}
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: "pop3", Kind: "bye"})
	if out := popLogin("alice"); !strings.Contains(out, "[SYS/TEMP] the server closes") {
		t.Errorf("pop3 bye: %s", out)
	}
	d.Deps.Faults.Clear(0)

	imapScript := `
import imaplib
m = imaplib.IMAP4("127.0.0.1", ` + imp + `, timeout=20)
try:
    m.login("alice", "alice"); print("LOGIN OK")
    print("SELECT", m.select("INBOX"))
except Exception as e:
    print("ERR", type(e).__name__, e)
`
	set(t, d, faults.Fault{Service: "imap", Kind: "unavailable"})
	if out := py(imapScript); !strings.Contains(out, "[UNAVAILABLE]") {
		t.Errorf("imap unavailable: %s", out)
	}
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: "imap", Kind: "inuse"})
	if out := py(imapScript); !strings.Contains(out, "LOGIN OK") || !strings.Contains(out, "[INUSE]") {
		t.Errorf("imap inuse: %s", out)
	}
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: "imap", Kind: "bye"})
	if out := py(imapScript); !strings.Contains(out, "LOGIN OK") || !strings.Contains(out, "Server closing the connection") {
		t.Errorf("imap bye: %s", out)
	}
	for _, proto := range []string{"pop3", "imap"} {
		if n := notes(d, proto); !strings.Contains(n, "fault ") {
			t.Errorf("no fault noted in %s transcripts", proto)
		}
	}
}

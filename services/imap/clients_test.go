package imap_test

import (
	"strings"
	"testing"

	"labd/internal/labtest"
)

func TestCurlIMAP(t *testing.T) {
	labtest.Tool(t, "curl")
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	ca := e.deps.TLS.CAFile
	cases := []struct {
		name string
		url  string
		args []string
	}{
		{"imap", "imap://alice:alice@127.0.0.1:" + labtest.Port(t, e.plain), nil},
		{"imap STARTTLS", "imap://alice:alice@127.0.0.1:" + labtest.Port(t, e.plain), []string{"--ssl-reqd", "--cacert", ca}},
		{"imaps", "imaps://alice:alice@127.0.0.1:" + labtest.Port(t, e.secure), []string{"--cacert", ca}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			list := labtest.RunTool(t, "curl", append([]string{"-sS", "--max-time", "20", c.url + "/"}, c.args...)...)
			for _, want := range []string{`"/" INBOX`, `\Sent`, `\Trash`, `"Drafts"`} {
				if !strings.Contains(list, want) {
					t.Errorf("curl LIST output lacks %s:\n%s", want, list)
				}
			}
			got := labtest.RunTool(t, "curl", append([]string{"-sS", "--max-time", "20", c.url + "/INBOX;UID=2"}, c.args...)...)
			if got != msg2 {
				t.Errorf("curl fetch UID 2 = %q, want %q", got, msg2)
			}
		})
	}
}

const imaplibScript = `
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4("127.0.0.1", port)
print("login", M.login("alice", "alice")[0])
typ, data = M.select("INBOX")
print("select", typ, data[0].decode())
typ, data = M.search(None, "SUBJECT", "second")
print("search", typ, data[0].decode())
typ, data = M.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("fetch", typ, data[0][1].decode().strip())
typ, data = M.store("1", "+FLAGS", "\\Flagged")
print("store", typ, data[0].decode())
typ, data = M.fetch("1:2", "(FLAGS)")
print("flags", typ, " | ".join(d.decode() for d in data))
M.close()
M.logout()
`

func TestPythonImaplib(t *testing.T) {
	labtest.Tool(t, "python3")
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	out := labtest.RunTool(t, "python3", "-c", imaplibScript, labtest.Port(t, e.plain))
	for _, want := range []string{
		"login OK",
		"select OK 2",
		"search OK 2",
		"fetch OK Subject: second",
		`store OK 1 (UID 1 FLAGS (\Flagged))`,
		`flags OK 1 (UID 1 FLAGS (\Flagged)) | 2 (UID 2 FLAGS ())`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imaplib output lacks %q:\n%s", want, out)
		}
	}
}

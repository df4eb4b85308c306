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
import imaplib, ssl, sys
mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False  # labd's certificate names localhost, not 127.0.0.1
if mode == "imaps":
    M = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
else:
    M = imaplib.IMAP4("127.0.0.1", port)
    if mode == "starttls":
        print("starttls", M.starttls(ssl_context=ctx)[0])
print("advertised", "STARTTLS" in M.capabilities)
print("login", M.login("alice", "alice")[0])
# imaplib's enable() checks the capabilities it read before login; ENABLE
# is allowed before SELECT only.
typ, data = M._simple_command("ENABLE", "IMAP4rev2")
print("enable", typ, M.untagged_responses.pop("ENABLED", None))
typ, data = M.list('""', "inbox")
print("list", typ, data[0].decode())
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
for args in (("SEARCH", None, "FOO"), ("SEARCH", None, "SINCE", "2024-01-01"), ("FETCH", "0", "FLAGS"), ("STORE", "1", "+FLAGS", "(\\Bogus)")):
    try:
        M._simple_command(*[a for a in args if a is not None])
        print("no error for", args[0])
    except imaplib.IMAP4.error as e:
        print("error", args[0], str(e).split(":", 1)[1].strip()[:3])
M.close()
typ, data = M.select("INBOX", readonly=True)  # EXAMINE
print("examine", typ)
typ, data = M.close()
print("close after examine", typ)
try:
    M.fetch("1", "(FLAGS)")
    print("still selected")
except imaplib.IMAP4.error:
    print("unselected")
M.logout()
`

// python3's imaplib over the three ways in: the front filter's fixes hold
// after STARTTLS as in clear text and on 993.
func TestPythonImaplib(t *testing.T) {
	labtest.Tool(t, "python3")
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := start(t)
			deliver(t, e.deps, "alice", msg1, msg2)
			port := labtest.Port(t, e.plain)
			if mode == "imaps" {
				port = labtest.Port(t, e.secure)
			}
			out := labtest.RunTool(t, "python3", "-c", imaplibScript, mode, port, e.deps.TLS.CAFile)
			wants := []string{
				"login OK",
				`list OK (\HasNoChildren) "/" INBOX`,
				"select OK 2",
				"search OK 2",
				"fetch OK Subject: second",
				`store OK 1 (UID 1 FLAGS (\Flagged))`,
				`flags OK 1 (UID 1 FLAGS (\Flagged)) | 2 (UID 2 FLAGS ())`,
				"error SEARCH BAD\nerror SEARCH BAD\nerror FETCH BAD\nerror STORE BAD",
				"enable OK [b'']",
				"examine OK",
				"close after examine OK",
				"unselected",
				"advertised " + map[bool]string{true: "True", false: "False"}[mode == "plaintext"],
			}
			if mode == "starttls" {
				wants = append(wants, "starttls OK")
			}
			for _, want := range wants {
				if !strings.Contains(out, want) {
					t.Errorf("imaplib output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

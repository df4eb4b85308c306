package pop3_test

import (
	"os/exec"
	"strings"
	"testing"

	"labd/internal/labtest"
)

func TestCurlPOP3(t *testing.T) {
	labtest.Tool(t, "curl")
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	ca := e.deps.TLS.CAFile
	cases := []struct {
		name string
		args []string
	}{
		{"pop3", []string{"pop3://127.0.0.1:" + labtest.Port(t, e.plain)}},
		{"pop3 STLS", []string{"pop3://127.0.0.1:" + labtest.Port(t, e.plain), "--ssl-reqd", "--cacert", ca}},
		{"pop3s", []string{"pop3s://127.0.0.1:" + labtest.Port(t, e.secure), "--cacert", ca}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := c.args[0]
			list := labtest.RunTool(t, "curl", append([]string{"-sS", "--max-time", "20", "-u", "alice:alice", url + "/"}, c.args[1:]...)...)
			if want := "1 " + itoa(len(msg1)) + "\r\n2 " + itoa(len(msg2)) + "\r\n"; list != want {
				t.Errorf("LIST via curl = %q, want %q", list, want)
			}
			got := labtest.RunTool(t, "curl", append([]string{"-sS", "--max-time", "20", "-u", "alice:alice", url + "/1"}, c.args[1:]...)...)
			if got != msg1 {
				t.Errorf("RETR 1 via curl = %q, want %q", got, msg1)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out, err := exec.Command("curl", "-sS", "--max-time", "20", "-u", "alice:nope", "pop3://127.0.0.1:"+labtest.Port(t, e.plain)+"/").CombinedOutput()
		if err == nil {
			t.Errorf("curl with a wrong password succeeded: %s", out)
		}
	})
	if n := count(t, e.deps, "alice"); n != 2 {
		t.Errorf("curl's reads changed the maildrop: %d messages", n)
	}
}

func TestPythonPoplib(t *testing.T) {
	labtest.Tool(t, "python3")
	e := start(t)
	deliver(t, e.deps, "bob", msg1, msg2)
	script := `
import poplib, ssl, sys
plain, secure, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
p = poplib.POP3("127.0.0.1", int(plain))
print("caps", sorted(p.capa().keys()))
p.stls(ctx)
p.user("bob"); p.pass_("bob")
print("stat", p.stat())
resp, lines, octets = p.retr(1)
print("retr", octets, lines[4].decode())
print("uidl", len(p.uidl()[1]))
resp, lines, octets = p.top(2, 0)
print("top", [l.decode() for l in lines])
p.dele(1)
p.quit()
s = poplib.POP3_SSL("127.0.0.1", int(secure), context=ctx)
try:
    s.user("bob"); s.pass_("wrong")
except poplib.error_proto as e:
    print("refused", e)
s.user("bob"); s.pass_("bob")
print("after", s.stat())
s.quit()
`
	out := labtest.RunTool(t, "python3", "-c", script, labtest.Port(t, e.plain), labtest.Port(t, e.secure), e.deps.TLS.CAFile)
	for _, want := range []string{
		"'SASL', 'STLS', 'TOP', 'UIDL', 'USER'",
		"stat (2, " + itoa(len(msg1)+len(msg2)) + ")",
		"retr " + itoa(len(msg1)) + " .starts with a dot", // poplib unstuffs
		"uidl 2",
		"top ['From: bob@lab.test', 'Subject: two', '']",
		"refused b'-ERR [AUTH] wrong user name or password'",
		"after (1, " + itoa(len(msg2)) + ")",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("python output lacks %q:\n%s", want, out)
		}
	}
	if n := count(t, e.deps, "bob"); n != 1 {
		t.Errorf("bob has %d messages after DELE+QUIT, want 1", n)
	}
}

package dashboard

import (
	"encoding/base64"
	"strings"
	"testing"

	"labd/internal/sessions"
)

// secretKinds are the ways a client sends a secret: the protocol, the
// server line before it (if any), and the client line around it.
var secretKinds = []struct {
	proto, cmd, prompt, pre, post string // cmd: the client line before the prompt
	b64                           bool   // the secret is base64 of the fuzzed bytes
	banned                        string // bytes the protocol cannot carry in the secret
}{
	{proto: "ftp", pre: "PASS "},
	{proto: "pop3", pre: "pass "},
	{proto: "smtp", pre: "AUTH PLAIN ", b64: true},
	{proto: "submission", cmd: "AUTH PLAIN", prompt: "334 ", b64: true},
	{proto: "pop3", pre: "AUTH LOGIN ", b64: true},
	{proto: "imap", pre: "a1 LOGIN alice ", banned: " \"(){}%\\]"},
	{proto: "imap", pre: "a1 LOGIN alice \"", post: "\"", banned: "\"\\"},
	{proto: "imaps", cmd: "x AUTHENTICATE PLAIN", prompt: "+ ", b64: true},
	{proto: "http", pre: "Authorization: Basic ", b64: true},
	{proto: "http", pre: "Cookie: a=b; " + cookieName + "=", banned: " ;\t"},
	{proto: "telnet", prompt: "Password: "},
}

// FuzzMask wraps a random secret in each way a client sends one, between
// random transcript lines, and checks that the masked view never shows it
// (nor its decoded form), whatever came before or after.
func FuzzMask(f *testing.F) {
	f.Add("220 ready\nUSER alice\n331 password", []byte("s3cret word"), "230 ok\nQUIT", uint8(0))
	f.Add("a LOGIN alice {7}\n+ go", []byte("hunter2"), "a OK", uint8(5))
	f.Add("EHLO x\n250 ok", []byte("\x00alice\x00alice"), "235 ok", uint8(3))
	f.Add("", []byte("alicepw!"), "HTTP/1.1 200 OK\nYou sent alicepw!", uint8(8))
	f.Add("login: \nalice", []byte("pw"), "$ \nls", uint8(10))
	f.Fuzz(func(t *testing.T, before string, raw []byte, after string, kind uint8) {
		k := secretKinds[int(kind)%len(secretKinds)]
		secret := string(raw)
		if k.b64 {
			secret = base64.StdEncoding.EncodeToString(raw)
		}
		if len(secret) < 3 || strings.ContainsAny(secret, "*"+k.banned) || strings.TrimSpace(secret) != secret {
			return
		}
		for _, r := range secret {
			if r < 0x21 || r > 0x7e {
				if r != ' ' {
					return
				}
			}
		}
		var es []sessions.Entry
		dir := sessions.FromServer
		add := func(d sessions.Direction, text string) {
			es = append(es, sessions.Entry{Dir: d, Data: []byte(text), Len: len(text)})
		}
		context := func(text string) {
			if text == "" {
				return
			}
			for _, l := range strings.Split(text, "\n") {
				add(dir, l+"\r\n")
				dir = sessions.FromClient + sessions.FromServer - dir
			}
		}
		context(before)
		if k.cmd != "" {
			add(sessions.FromClient, k.cmd+"\r\n")
		}
		if k.prompt != "" {
			add(sessions.FromServer, k.prompt+"\r\n")
		}
		secretIdx := len(es) // one line per entry: each ends with CRLF
		add(sessions.FromClient, k.pre+secret+k.post+"\r\n")
		context(after)
		lines := Mask(k.proto, splitLines(es), false)
		// The secret is only required to be hidden where nothing else
		// on the wire shows it: a server echoing it, or context lines
		// containing it, are not the masker's to hide.
		for i, l := range lines {
			// Only lines whose bytes hold the secret: the rendering of
			// control bytes (\x00 then 0) must not count as a leak.
			if i >= len(es) || !strings.Contains(string(es[i].Data), secret) {
				continue
			}
			if i == secretIdx || !strings.Contains(before+"\n"+after+"\n"+k.prompt, secret) {
				if strings.Contains(l.Text(), secret) || strings.Contains(l.Decoded, secret) {
					t.Fatalf("line %d %q shows the secret %q (%s, lines %+v)", i, l.Text(), secret, k.proto, lines)
				}
			}
		}
		for _, l := range lines {
			if l.Masked && l.Decoded != "" {
				t.Fatalf("masked line %q shows its decoded form %q", l.Text(), l.Decoded)
			}
		}
	})
}

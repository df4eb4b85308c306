package golden_test

import (
	"strings"
	"testing"

	"labd/internal/labtest"
)

// TestGreetingsFrench checks the greetings with server.language: fr: the
// human text is French, and everything a client parses (the code, the
// domain, ESMTP, the CAPABILITY code) is byte for byte what the English
// transcripts in testdata/ show. Reply texts stay US-ASCII (RFC 5321 4.2,
// RFC 3501 TEXT-CHAR): the French comes without its accents there.
func TestGreetingsFrench(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.Server.Language = "fr"
	g := &golden{cfg: cfg, d: labtest.StartDaemon(t, cfg)}
	for _, tc := range []struct {
		svc, want string
	}{
		{"smtp", "220 labd.lab.test ESMTP serveur de courriel pret\r\n"},
		{"pop3", "+OK serveur POP3 labd pret (tapez CAPA pour les capacites, puis USER nom et PASS mot de passe pour vous connecter)\r\n"},
		{"imap", "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- STARTTLS AUTH=PLAIN] serveur IMAP pret\r\n"},
		{"ftp", "220 labd : serveur FTP labd pret. Ici, USER et PASS circulent en clair (AUTH TLS pour FTPS); HELP donne la liste des commandes.\r\n"},
	} {
		t.Run(tc.svc, func(t *testing.T) {
			tr := g.dial(t, tc.svc)
			tr.text("\n")
			got := string(tr.recv)
			if got != tc.want {
				t.Errorf("greeting:\n got %q\nwant %q", got, tc.want)
			}
			for _, r := range got {
				if r >= 0x80 {
					t.Errorf("greeting has a non-ASCII character %q: %q", r, got)
				}
			}
		})
	}
	t.Run("http", func(t *testing.T) {
		tr := g.dial(t, "http")
		tr.send("GET /auth HTTP/1.1\r\nHost: labd.lab.test\r\nConnection: close\r\n\r\n")
		tr.eof()
		got := tr.String() // non-ASCII bytes escaped: \xc3\xa9 is é
		for _, want := range []string{
			"S: HTTP/1.1 401 Unauthorized\\r\\n",
			`S: Www-Authenticate: Basic realm="labd", charset="UTF-8"\r\n`,
			`S: 401 non autoris\xc3\xa9\xc2\xa0: connectez-vous avec un nom d'utilisateur et un mot de passe du TP\n`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%q missing from:\n%s", want, got)
			}
		}
	})
	t.Run("telnet", func(t *testing.T) {
		tr := g.dial(t, "telnet")
		tr.send("\xff\xfd\x01\xff\xfd\x03\xff\xfc\x1f\xff\xfc\x18")
		tr.text("login: ")
		got := string(tr.recv)
		// The prompts stay those of /bin/login: scripts wait for them.
		want := "labd.lab.test (labd Telnet). Telnet envoie tout en clair, le mot de passe aussi\u00a0: observez-le dans Wireshark, puis comparez avec SSH.\r\n"
		if !strings.Contains(got, want) {
			t.Errorf("banner: got %q, want %q in it", got, want)
		}
	})
}

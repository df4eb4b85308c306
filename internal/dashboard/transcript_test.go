package dashboard

import (
	"strings"
	"testing"
	"time"

	"labd/internal/sessions"
)

type chunk struct {
	dir  sessions.Direction
	data string
}

func entries(chunks ...chunk) []sessions.Entry {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	var out []sessions.Entry
	for i, c := range chunks {
		out = append(out, sessions.Entry{Time: t0.Add(time.Duration(i) * time.Second), Dir: c.dir, Data: []byte(c.data), Len: len(c.data)})
	}
	return out
}

func C(s string) chunk { return chunk{sessions.FromClient, s} }
func S(s string) chunk { return chunk{sessions.FromServer, s} }

func TestMask(t *testing.T) {
	tests := []struct {
		name    string
		proto   string
		chunks  []chunk
		secrets []string // every secret, in order, as sent
		decoded []string // decoded forms shown when unmasked ("" for none)
		clear   []string // client text that must stay visible
	}{
		{"FTP PASS", "ftp", []chunk{S("220 ready\r\n"), C("USER alice\r\n"), S("331 password\r\n"), C("PASS s3cret word\r\n"), S("230 ok\r\n")},
			[]string{"s3cret word"}, []string{""}, []string{"USER alice", "PASS "}},
		{"POP3 PASS", "pop3", []chunk{S("+OK\r\n"), C("USER alice\r\npass alicepw\r\n"), S("+OK\r\n")},
			[]string{"alicepw"}, []string{""}, []string{"USER alice"}},
		{"password equal to the user name hides only itself", "pop3", []chunk{C("USER alice\r\nPASS alice\r\n"), S("+OK alice has 2 messages\r\n")},
			[]string{"alice"}, []string{""}, []string{"USER alice", "+OK alice has 2 messages"}},
		{"SMTP AUTH PLAIN initial response", "submission", []chunk{S("220 x\r\n"), C("EHLO me\r\n"), C("AUTH PLAIN AGFsaWNlAGFsaWNl\r\n"), S("235 ok\r\n"), C("MAIL FROM:<a@b>\r\n")},
			[]string{"AGFsaWNlAGFsaWNl"}, []string{"␀alice␀alice"}, []string{"AUTH PLAIN ", "MAIL FROM:<a@b>"}},
		{"SMTP AUTH PLAIN continuation", "smtp", []chunk{C("AUTH PLAIN\r\n"), S("334 \r\n"), C("AGFsaWNlAGFsaWNl\r\n"), S("235 ok\r\n"), C("QUIT\r\n")},
			[]string{"AGFsaWNlAGFsaWNl"}, []string{"␀alice␀alice"}, []string{"AUTH PLAIN", "QUIT"}},
		{"SMTP AUTH LOGIN continuation lines", "smtp", []chunk{C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"), C("YWxpY2U=\r\n"), S("334 UGFzc3dvcmQ6\r\n"), C("YWxpY2Vwdw==\r\n"), S("235 2.7.0 ok\r\n"), C("MAIL FROM:<alice@lab.test>\r\n")},
			[]string{"YWxpY2U=", "YWxpY2Vwdw=="}, []string{"alice", "alicepw"}, []string{"MAIL FROM:<alice@lab.test>"}},
		{"SMTP AUTH LOGIN with user inline, failure ends it", "smtp", []chunk{C("AUTH LOGIN YWxpY2U=\r\n"), S("334 UGFzc3dvcmQ6\r\n"), C("d3Jvbmc=\r\n"), S("535 5.7.8 bad\r\n"), C("RSET\r\n")},
			[]string{"YWxpY2U=", "d3Jvbmc="}, []string{"alice", "wrong"}, []string{"RSET"}},
		{"POP3 AUTH PLAIN", "pop3", []chunk{C("AUTH PLAIN\r\n"), S("+ \r\n"), C("AGFsaWNlAGFsaWNl\r\n"), S("+OK logged in\r\n"), C("STAT\r\n")},
			[]string{"AGFsaWNlAGFsaWNl"}, []string{"␀alice␀alice"}, []string{"STAT"}},
		{"IMAP LOGIN atoms", "imap", []chunk{S("* OK ready\r\n"), C("a1 LOGIN alice alicepw\r\n"), S("a1 OK done\r\n"), C("a2 SELECT INBOX\r\n")},
			[]string{"alicepw"}, []string{""}, []string{"a1 LOGIN alice ", "a2 SELECT INBOX"}},
		{"IMAP LOGIN quoted", "imaps", []chunk{C(`A001 login "alice" "pa ss\"w"` + "\r\n")},
			[]string{`"pa ss\"w"`}, []string{""}, []string{`A001 login "alice" `}},
		{"IMAP LOGIN literal", "imap", []chunk{C("a LOGIN alice {7}\r\n"), S("+ go\r\n"), C("alicepw\r\n"), S("a OK\r\n"), C("b NOOP\r\n")},
			[]string{"alicepw"}, []string{""}, []string{"a LOGIN alice {7}", "b NOOP"}},
		{"IMAP AUTHENTICATE PLAIN", "imap", []chunk{C("x AUTHENTICATE PLAIN\r\n"), S("+ \r\n"), C("AGFsaWNlAGFsaWNl\r\n"), S("x OK\r\n"), C("y LOGOUT\r\n")},
			[]string{"AGFsaWNlAGFsaWNl"}, []string{"␀alice␀alice"}, []string{"y LOGOUT"}},
		{"HTTP Basic", "http", []chunk{C("GET /auth HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6YWxpY2U=\r\n\r\n"), S("HTTP/1.1 200 OK\r\n\r\n")},
			[]string{"YWxpY2U6YWxpY2U="}, []string{"alice:alice"}, []string{"GET /auth HTTP/1.1", "Authorization: Basic "}},
		{"HTTP Basic echoed back by /auth", "http", []chunk{C("GET /auth HTTP/1.1\r\nAuthorization: Basic YWxpY2U6YWxpY2U=\r\n\r\n"), S("HTTP/1.1 200 OK\r\n\r\nThey crossed the network as \"Basic YWxpY2U6YWxpY2U=\", base64.\r\n")},
			[]string{"YWxpY2U6YWxpY2U=", "YWxpY2U6YWxpY2U="}, []string{"alice:alice", ""}, []string{"They crossed the network as \"Basic "}},
		{"dashboard session cookie set by the server", "http", []chunk{S("HTTP/1.1 303 See Other\r\nSet-Cookie: labd_session=TOKEN123; Path=/labd/; HttpOnly\r\n\r\n")},
			[]string{"TOKEN123"}, []string{""}, []string{"Set-Cookie: labd_session=", "; Path=/labd/; HttpOnly"}},
		{"dashboard login form and cookie", "http", []chunk{C("POST /labd/login HTTP/1.1\r\nCookie: a=b; labd_session=TOKEN123\r\n\r\nuser=teacher&password=hunter2&next=%2Flabd%2F")},
			[]string{"TOKEN123", "hunter2"}, []string{"", ""}, []string{"user=teacher&password=", "&next=%2Flabd%2F"}},
		{"Telnet password after prompt", "telnet", []chunk{S("login: "), C("a"), C("l"), C("ice\r\n"), S("Password: "), C("s"), C("ecret\r\n"), S("\r\nWelcome\r\n$ "), C("ls\r\n")},
			[]string{"secret"}, []string{""}, []string{"alice", "ls"}},
		{"Telnet password prompt followed by IAC WILL ECHO", "telnet", []chunk{S("\xff\xfb\x01Password: \xff\xfb\x01"), C("\xff\xfd\x01"), C("pw-typed\r\n"), S("\r\n$ "), C("pwd\r\n")},
			[]string{`\xff\xfd\x01pw-typed`}, []string{""}, []string{"pwd"}},
		{"STARTTLS is no secret", "smtp", []chunk{C("STARTTLS\r\n"), S("220 go\r\n"), C("AUTH TLS\r\n"), S("234 ok\r\n"), C("NOOP\r\n")},
			nil, nil, []string{"STARTTLS", "AUTH TLS", "NOOP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := splitLines(entries(tt.chunks...))
			masked := Mask(tt.proto, raw, false)
			shown := Mask(tt.proto, raw, true)
			var got, dec []string
			var maskedText, shownText strings.Builder
			for i, l := range masked {
				if l.Secret != "" {
					got = append(got, l.Secret)
					if !l.Masked {
						t.Errorf("line %q: secret not masked", l.Text())
					}
					if shown[i].Masked || shown[i].Secret != l.Secret {
						t.Errorf("unmasked view hides %q", l.Secret)
					}
					dec = append(dec, shown[i].Decoded)
					if l.Decoded != "" {
						t.Errorf("masked view shows the decoded secret %q", l.Decoded)
					}
				}
				maskedText.WriteString(l.Text() + "\n")
				shownText.WriteString(shown[i].Text() + "\n")
			}
			if strings.Join(got, "|") != strings.Join(tt.secrets, "|") {
				t.Fatalf("secrets %q, want %q\n%s", got, tt.secrets, shownText.String())
			}
			if strings.Join(dec, "|") != strings.Join(tt.decoded, "|") {
				t.Errorf("decoded %q, want %q", dec, tt.decoded)
			}
			for _, l := range masked {
				if l.Secret != "" && strings.Contains(l.Text(), l.Secret) {
					t.Errorf("masked line still shows its secret: %q", l.Text())
				}
			}
			for _, s := range tt.secrets {
				if !strings.Contains(shownText.String(), s) {
					t.Errorf("unmasked transcript lacks %q", s)
				}
			}
			for _, c := range tt.clear {
				if !strings.Contains(maskedText.String(), c) {
					t.Errorf("masked transcript lacks the clear text %q:\n%s", c, maskedText.String())
				}
			}
		})
	}
}

func TestSplitLinesAndAnnotations(t *testing.T) {
	es := entries(S("220 hi\r\n250-a\r\n"), S("250 b\r\n"), C("EH"), C("LO x\r\nMAIL"), C(" FROM:<a>\r\n"), S("450 later\r\n554 no\r\n"))
	es = append(es, sessions.Entry{Time: time.Now(), Dir: sessions.Note, Data: []byte("TLS handshake")},
		sessions.Entry{Time: time.Now(), Dir: sessions.FromClient, Len: 517, TLS: true},
		sessions.Entry{Time: time.Now(), Dir: sessions.FromServer, Len: 1200, TLS: true},
		sessions.Entry{Time: time.Now(), Dir: sessions.FromClient, Data: []byte("\xff\xfb\x01bin\x00\r\n")})
	lines := Mask("smtp", splitLines(es), false)
	var got []string
	for _, l := range lines {
		got = append(got, l.Dir+" "+l.Text()+" ["+l.Class+"]")
	}
	want := []string{
		"S 220 hi [ok]", "S 250-a [ok]", "S 250 b [ok]",
		"C EHLO x []", "C MAIL FROM:<a> []",
		"S 450 later [temp]", "S 554 no [perm]",
		"* TLS handshake []",
		"C [517 bytes encrypted] []", "S [1200 bytes encrypted] []",
		`C \xff\xfb\x01bin\x00 []`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, tt := range []struct{ proto, line, code, class string }{
		{"pop3", "+OK ready", "+OK", "ok"},
		{"pop3s", "-ERR no", "-ERR", "perm"},
		{"imap", "a1 OK LOGIN completed", "OK", "ok"},
		{"imap", "a2 NO [AUTHENTICATIONFAILED] bad", "NO", "temp"},
		{"imap", "a3 BAD syntax", "BAD", "perm"},
		{"imap", "* OK [CAPABILITY IMAP4rev1] ready", "OK", "ok"},
		{"ftp", "150 opening", "150", "info"},
		{"ftp", "331 password please", "331", "more"},
		{"http", "HTTP/1.1 404 Not Found", "404", "perm"},
	} {
		l := Line{Dir: "S", Pre: tt.line}
		annotate(tt.proto, &l)
		if l.Code != tt.code || l.Class != tt.class {
			t.Errorf("%s %q: code %q class %q, want %q %q", tt.proto, tt.line, l.Code, l.Class, tt.code, tt.class)
		}
	}
}

package exercises

import (
	"strings"
	"testing"
	"time"

	"labd/internal/sessions"
)

// exchange builds a transcript: lines prefixed "C: " come from the client,
// "S: " from the server, "N: " are labd notes; gap is the time between
// client lines; lf ends client lines with a bare LF.
func exchange(gap time.Duration, lf bool, script ...string) []sessions.Entry {
	t := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var out []sessions.Entry
	for _, l := range script {
		switch {
		case strings.HasPrefix(l, "C: "):
			t = t.Add(gap)
			end := "\r\n"
			if lf {
				end = "\n"
			}
			out = append(out, sessions.Entry{Time: t, Dir: sessions.FromClient, Data: []byte(l[3:] + end)})
		case strings.HasPrefix(l, "S: "):
			t = t.Add(time.Millisecond)
			out = append(out, sessions.Entry{Time: t, Dir: sessions.FromServer, Data: []byte(l[3:] + "\r\n")})
		case strings.HasPrefix(l, "N: "):
			out = append(out, sessions.Entry{Time: t, Dir: sessions.Note, Data: []byte(l[3:])})
		}
	}
	return out
}

func builtin(t *testing.T, id string) *Exercise {
	t.Helper()
	ex, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ex {
		if ex[i].ID == id {
			return &ex[i]
		}
	}
	t.Fatalf("no built-in exercise %s", id)
	return nil
}

var smtpByHand = []string{
	"S: 220 labd.lab.test ESMTP", "C: HELO alice", "S: 250 labd.lab.test", "C: MAIL FROM:<alice@lab.test>", "S: 250 2.0.0 OK",
	"C: RCPT TO:<bob@lab.test>", "S: 250 2.0.0 OK", "C: DATA", "S: 354 Go ahead", "C: Subject: hi", "C: ", "C: hello bob", "C: .", "S: 250 2.0.0 Ok: delivered",
}

func TestBuiltinConditions(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		info     sessions.Info
		tr       []sessions.Entry
		want     Outcome
		missing  string
	}{
		{"smtp by hand with nc", "smtp-by-hand", sessions.Info{Proto: "smtp"}, exchange(2*time.Second, true, smtpByHand...), Done, ""},
		{"smtp by hand, CRLF but human pace", "smtp-by-hand", sessions.Info{Proto: "smtp"}, exchange(time.Second, false, smtpByHand...), Done, ""},
		{"swaks is not by hand", "smtp-by-hand", sessions.Info{Proto: "smtp"}, exchange(time.Millisecond, false, smtpByHand...), Started, "sent by a program"},
		{"587 is not port 25", "smtp-by-hand", sessions.Info{Proto: "submission"}, exchange(2*time.Second, true, smtpByHand...), NotStarted, ""},
		{"no final dot", "smtp-by-hand", sessions.Info{Proto: "smtp"}, exchange(2*time.Second, true, smtpByHand[:11]...), Started, "no line with a single dot"},
		{"ftp active", "ftp-active", sessions.Info{Proto: "ftp", User: "alice"}, exchange(0, false, "C: USER alice", "S: 331 x", "C: PASS alice", "S: 230 ok",
			"C: PORT 127,0,0,1,200,10", "S: 200 PORT command successful", "C: LIST", "S: 150 Opening", "S: 226 Closing data connection"), Done, ""},
		{"ftp passive is not active", "ftp-active", sessions.Info{Proto: "ftp", User: "alice"}, exchange(0, false, "C: EPSV", "S: 229 Entering", "C: LIST", "S: 150 x", "S: 226 done"), Started, "passive mode was used"},
		{"dns mx", "dns-mx", sessions.Info{Proto: "dns", Attrs: map[string]string{"type": "MX", "rcode": "NOERROR", "name": "lab.test."}}, nil, Done, ""},
		{"dns a is not mx", "dns-mx", sessions.Info{Proto: "dns", Attrs: map[string]string{"type": "A", "rcode": "NOERROR"}}, nil, Started, "type is"},
		{"pop3 without quit", "pop3-retr-dele", sessions.Info{Proto: "pop3", User: "bob"}, exchange(0, false, "C: RETR 1", "S: +OK 10 octets", "C: DELE 1", "S: +OK marked"), Started, "QUIT deletes it"},
		{"imap idle", "imap-idle", sessions.Info{Proto: "imap", User: "bob"}, exchange(0, false, "C: a IDLE", "S: + idling", "S: * 3 EXISTS", "C: DONE", "S: a OK"), Done, ""},
		{"ssh password is not publickey", "ssh-publickey", sessions.Info{Proto: "ssh", User: "bob", Attrs: map[string]string{"auth": "password"}}, nil, Started, "the login used password"},
		{"ssh publickey", "ssh-publickey", sessions.Info{Proto: "ssh", User: "bob", Attrs: map[string]string{"auth": "publickey"}}, nil, Done, ""},
		{"submission with tls", "smtp-submission-tls", sessions.Info{Proto: "submission", User: "bob", TLS: true}, exchange(0, false, "N: delivered 1A2B (Message-ID none)"), Done, ""},
		{"submission without tls", "smtp-submission-tls", sessions.Info{Proto: "submission", User: "bob"}, exchange(0, false, "N: delivered 1A2B"), Started, "did not use TLS"},
		{"tftp netascii is not binary", "tftp-binary", sessions.Info{Proto: "tftp", Result: "ok", Attrs: map[string]string{"mode": "netascii", "direction": "read"}}, nil, Started, "mode is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := builtin(t, tc.id)
			got, missing := e.When.Match(Record{Info: tc.info, Transcript: tc.tr})
			if got != tc.want || !strings.Contains(missing, tc.missing) {
				t.Errorf("got %s %q, want %s %q", got, missing, tc.want, tc.missing)
			}
		})
	}
}

func TestAttributionByDetail(t *testing.T) {
	e := builtin(t, "smtp-by-hand")
	users := func(u string) bool { return u == "alice" || u == "bob" }
	r := Record{Info: sessions.Info{Proto: "smtp"}, Transcript: exchange(time.Second, true, smtpByHand...)}
	if u := e.attribute(&r, users); u != "alice" {
		t.Errorf("MAIL FROM alice@ attributed to %q", u)
	}
	r = Record{Info: r.Info, Transcript: exchange(time.Second, true, "C: HELO mallory", "C: MAIL FROM:<mallory@evil.test>")}
	if u := e.attribute(&r, users); u != "" {
		t.Errorf("a name that is no user attributed to %q", u)
	}
}

func TestParseErrorsNameLineAndKey(t *testing.T) {
	_, err := Parse("ex.yaml", []byte(`exercises:
  - id: a
    title: A
    when: {protocol: [smtp], auth: sometimes}
  - id: a
    title: ""
    when: {protocol: [dns], steps: [{client: "("}]}
`))
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, want := range []string{"ex.yaml:2: exercises[0].when: auth", "ex.yaml:5: exercises[1].id: \"a\" is used twice", "exercises[1].title", "steps[0].client"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Parse("x.yaml", []byte("exercises:\n  - id: a\n    title: A\n    wen: {}\n")); err == nil || !strings.Contains(err.Error(), "wen") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestBuiltinPackIDs(t *testing.T) {
	ex, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range ex {
		ids = append(ids, e.ID)
		if e.TitleFR == "" || e.DescriptionFR == "" {
			t.Errorf("%s has no French", e.ID)
		}
	}
	want := "http-nc http-basic-auth http-public-html smtp-by-hand smtp-submission-tls pop3-retr-dele imap-idle dns-mx dns-tc-tcp ftp-active ftp-ascii tftp-binary ssh-publickey telnet-vs-ssh"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("ids:\n%s\nwant\n%s", got, want)
	}
}

// FuzzParse: an exercises file never panics the loader that labd check
// runs on teachers' files.
func FuzzParse(f *testing.F) {
	b, _ := builtinFS.ReadFile("builtin.yaml")
	f.Add(b)
	f.Add([]byte("exercises:\n  - id: x\n    title: y\n    when: {protocol: [smtp], steps: [{client: 'a(', server: '['}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for i := range ex {
			ex[i].When.Match(Record{Info: sessions.Info{Proto: "smtp"}, Transcript: exchange(0, true, "C: HELO x", "S: 250 ok")})
		}
	})
}

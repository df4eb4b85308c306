package imap_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
)

// What Thunderbird and a hand typist send, line by line, with what the
// reply must contain.
func TestRawCommands(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	conn := labtest.Dial(t, e.plain)
	br := bufio.NewReader(conn)
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q", l)
	}
	cases := []struct{ cmd, want, not string }{
		{"a LOGIN alice alice", "a OK", ""},
		// A student pressing Enter twice: the blank line must not end
		// the session (the library alone would close it).
		{"\r\na NOOP", "a OK", ""},
		{`a LIST (SPECIAL-USE) "" "*"`, `* LIST (\HasNoChildren \Sent) "/" "Sent"`, "INBOX"},
		{`a LIST "" "*" RETURN (SPECIAL-USE SUBSCRIBED)`, `\Subscribed \Trash) "/" "Trash"`, ""},
		{`a LSUB "" "*"`, `* LSUB (\HasNoChildren \Subscribed \Drafts) "/" "Drafts"`, ""},
		{`a LIST "" ""`, `* LIST (\Noselect) "/" ""`, ""},
		{`a CREATE Projets/TP3`, "a OK", ""},
		{`a LIST "" "%"`, `* LIST (\Noselect \HasChildren) "/" "Projets"`, "TP3"},
		{`a LIST "" "Projets/%"`, `"/" "Projets/TP3"`, ""},
		{`a DELETE Nope`, "a NO [NONEXISTENT]", ""},
		{`a STATUS INBOX (MESSAGES UNSEEN UIDNEXT)`, "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 2)", ""},
		{`a EXAMINE INBOX`, "a OK [READ-ONLY]", ""},
		{`a STORE 1 +FLAGS (\Seen)`, "a NO [CANNOT]", ""},
		{`a SELECT inbox`, "a OK [READ-WRITE]", ""},
		{`a UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)])`, "* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 73 BODY[HEADER.FIELDS (\"From\" \"Subject\")] {39}", "hello"},
		{`a STORE 1 +FLAGS ($Forwarded \flagged)`, `* 1 FETCH (UID 1 FLAGS ($Forwarded \Flagged))`, ""},
		{`a SEARCH FLAGGED`, "* SEARCH 1\r\n", ""},
		{`a SEARCH KEYWORD $Forwarded`, "* SEARCH 1\r\n", ""},
		{`a FETCH 5 FLAGS`, "a BAD", ""},
		{`a UID FETCH 5 FLAGS`, "a OK", "FETCH ("},
		{`a COPY 9 Trash`, "a BAD", ""},
		{`a MOVE 2 Nope`, "a NO [TRYCREATE]", ""},
		{`a CLOSE`, "a OK", ""},
		{`a FETCH 1 FLAGS`, "a BAD", ""},
		{`a LOGOUT`, "* BYE", ""},
	}
	for _, c := range cases {
		got := exchange(conn, br, "a", c.cmd)
		if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("%s:\n%s\nwant %q, not %q", c.cmd, got, c.want, c.not)
		}
	}
}

// An APPEND larger than the message size limit is refused before its data
// is read, and the session goes on.
func TestAppendLimit(t *testing.T) {
	e := start(t)
	conn := labtest.Dial(t, e.plain)
	br := bufio.NewReader(conn)
	br.ReadString('\n')
	io.WriteString(conn, "a LOGIN alice alice\r\n")
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("login: %q", l)
	}
	io.WriteString(conn, "b APPEND INBOX {999999999}\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, _ := br.ReadString('\n')
	if !strings.HasPrefix(l, "b NO") || !strings.Contains(l, "TOOBIG") {
		t.Errorf("oversized APPEND: %q", l)
	}
	io.WriteString(conn, "c NOOP\r\n")
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "c OK") {
		t.Errorf("session after refused APPEND: %q", l)
	}
}

// A mailbox created after another was deleted is seen afresh, not through
// the old one's view.
func TestRecreatedMailboxIsFresh(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if _, err := e.deps.Store.CreateMailbox(ctx, "alice", "Tmp", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.deps.Store.Append(ctx, "alice", "Tmp", []byte("Subject: old\r\n\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, _ := login(t, e.plain, "alice")
	if _, err := c.Select("Tmp", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := e.deps.Store.DeleteMailbox(ctx, "alice", "Tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.deps.Store.CreateMailbox(ctx, "alice", "Other", ""); err != nil {
		t.Fatal(err)
	}
	c2, _ := login(t, e.plain, "alice")
	d, err := c2.Select("Other", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.NumMessages != 0 {
		t.Errorf("new mailbox shows %d messages of the deleted one", d.NumMessages)
	}
}

// RFC 3501/7888 conformance that the library alone gets wrong (see
// docs/imap.md): each exchange on a plaintext connection, in order.
// The ways to reach the IMAP server: every fix of the front filter and
// limiter must hold on each.
var modes = []string{"plaintext", "starttls", "imaps"}

// dialMode connects in mode and returns the connection after the greeting
// (and, for starttls, after the TLS handshake); greeting is the greeting
// line, or for starttls the CAPABILITY reply once encrypted.
func dialMode(t *testing.T, e env, mode string) (conn net.Conn, br *bufio.Reader, greeting string) {
	t.Helper()
	tc := &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"}
	switch mode {
	case "imaps":
		c, err := tls.Dial("tcp", e.secure, tc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conn = c
	default:
		conn = labtest.Dial(t, e.plain)
	}
	br = bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	greeting, _ = br.ReadString('\n')
	if !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("%s greeting %q", mode, greeting)
	}
	if mode == "starttls" {
		if got := exchange(conn, br, "s", "s STARTTLS"); !strings.HasPrefix(got, "s OK") {
			t.Fatalf("STARTTLS: %q", got)
		}
		c := tls.Client(conn, tc)
		if err := c.Handshake(); err != nil {
			t.Fatalf("STARTTLS handshake: %v", err)
		}
		conn, br = c, bufio.NewReader(c)
		greeting = exchange(conn, br, "s", "s CAPABILITY")
	}
	return conn, br, greeting
}

func TestConformance(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { testConformance(t, mode) })
	}
}

func testConformance(t *testing.T, mode string) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	conn, br, greeting := dialMode(t, e, mode)
	if strings.Contains(greeting, "STARTTLS") != (mode == "plaintext") {
		t.Errorf("%s: STARTTLS advertised only in clear text: %q", mode, greeting)
	}
	bogus := strings.Repeat("z NOOP\r\n", 700) // 5600 bytes that must not run
	cases := []struct{ tag, cmd, want, not string }{
		// A student typing by hand before login gets hints, not BYE.
		{"x", "x HELLO", "x BAD Unknown command", "BYE"},
		{"y", "y HELP", "y BAD", "BYE"},
		{"a", "a", "a BAD", "BYE"},
		{"b", "b CAPABILITY", "LITERAL-", ""},
		{"b", "b STARTTLS extra", "b BAD", ""},
		{"b", "\r\n  \r\nb NOOP", "b OK", "BAD"}, // Enter pressed twice: nothing to answer
		{"c", "c LOGIN alice alice", "c OK", ""},
		{"d", "d", "d BAD", ""},
		{"e", `e LIST "" inbox`, `"/" INBOX`, ""},
		{"f", `f LIST "" Inbox/%`, "f OK", ""},
		{"f", `f LIST "" in%`, `"/" INBOX`, ""},
		{"f", `f CREATE inbox/tp`, "f OK", ""},
		{"f", `f LIST "inbox/" "%"`, `"/" "INBOX/tp"`, ""},
		{"f", `f LIST "" iNbOx/*`, `"/" "INBOX/tp"`, ""},
		{"f", `f DELETE INBOX/tp`, "f OK", ""},
		{"f", `f LSUB "" iNBOX`, `"/" INBOX`, ""},
		{"f", `f STATUS inbox (MESSAGES)`, "* STATUS INBOX (MESSAGES 2)", ""},
		{"g", "g ENABLE IMAP4rev2", "* ENABLED\r\n", "IMAP4rev2"},
		{"h", "h EXAMINE INBOX", "h OK [READ-ONLY]", ""},
		{"i", "i EXPUNGE", "i NO", ""},
		{"j", "j CLOSE", "j OK", ""},
		{"k", "k FETCH 1 FLAGS", "k BAD", ""}, // CLOSE really unselected
		{"l", "l SELECT INBOX", "l OK [READ-WRITE]", ""},
		{"m", "m SEARCH FOO", "m BAD [CLIENTBUG] Unknown SEARCH key", "SERVERBUG"},
		{"n", "n SEARCH SINCE 2024-01-01", "n BAD [CLIENTBUG]", "SERVERBUG"},
		{"o", "o FETCH 0 FLAGS", "o BAD [CLIENTBUG] Invalid message set", ""},
		{"p", "p FETCH 1:x FLAGS", "p BAD [CLIENTBUG]", ""},
		{"q", "q UID STORE 0 +FLAGS (x)", "q BAD", ""},
		{"r", `r SEARCH OR FROM alice (SUBJECT "second" UNSEEN) SINCE 1-Jan-2024 1:*`, "* SEARCH 1 2\r\n", ""},
		{"s", "s UID SEARCH NOT DELETED", "* SEARCH 1 2\r\n", ""},
		{"t", `t STORE 1 +FLAGS (\Bogus)`, "t BAD", ""},
		{"u", `u STORE 1 +FLAGS (Bogus \Seen)`, `FLAGS (Bogus \Seen)`, ""},
		{"u", `u STORE 1 -FLAGS.SILENT (\Bogus)`, "u BAD", ""},
		{"u", `u STORE 1 +FLAGS (\Recent)`, "u BAD [CLIENTBUG] \\Recent", ""},
		{"v", "v APPEND INBOX (\\Bogus) {2+}\r\nhi", "v BAD", ""},
		{"v", "v APPEND INBOX ($Label1 \\Seen) {2+}\r\nhi", "v OK", ""},
		{"v", "v SEARCH TEXT {5600+}\r\n" + bogus, "v BAD [TOOBIG]", "z OK"},
		{"w", "w NOOP", "w OK", "z OK"},
		{"w", "w STARTTLS", "w BAD", ""},
		{"w", "w APPEND INBOX {4294967296}", "w NO [TOOBIG]", ""},
		{"w", "w SEARCH (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((ALL)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))", "w BAD [LIMIT]", ""},
		{"w", "w NOOP {5}", "w BAD", ""}, // no literal to the library: the next line is a command
		{"w", "w NOOP", "w OK", ""},
		{"w", "w LOGOUT", "* BYE", ""},
	}
	for _, c := range cases {
		got := exchange(conn, br, c.tag, c.cmd)
		if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("%s %.60s:\n%s\nwant %q, not %q", mode, c.cmd, got, c.want, c.not)
		}
	}
}

// Commands pipelined after STARTTLS in clear text are dropped, not run
// once encrypted (command injection, CVE-2011-0411); STARTTLS again
// inside TLS is BAD.
func TestStartTLSInjection(t *testing.T) {
	e := start(t)
	r := dialRaw(t, e.plain)
	io.WriteString(r.c, "s STARTTLS\r\nx LOGIN alice alice\r\n")
	r.until("s OK")
	c := tls.Client(r.c, &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"})
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tr := bufio.NewReader(c)
	got := exchange(c, tr, "a", "a CAPABILITY")
	if strings.Contains(got, "x OK") || strings.Contains(got, "STARTTLS") || !strings.Contains(got, "AUTH=PLAIN") {
		t.Errorf("after STARTTLS: %q", got)
	}
	if got := exchange(c, tr, "b", "b STARTTLS"); !strings.HasPrefix(got, "b BAD") {
		t.Errorf("STARTTLS twice: %q", got)
	}
	if got := exchange(c, tr, "c", "c LOGIN alice alice"); !strings.HasPrefix(got, "c OK") {
		t.Errorf("LOGIN: %q", got)
	}
}

// After three unknown commands before login, the library's BYE stands
// (cross-protocol protection).
func TestUnknownBeforeLoginBye(t *testing.T) {
	e := start(t)
	conn := labtest.Dial(t, e.plain)
	br := bufio.NewReader(conn)
	br.ReadString('\n')
	io.WriteString(conn, "a FOO\r\nb BAR\r\nc BAZ\r\nd QUX\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, _ := io.ReadAll(br)
	if !strings.Contains(string(all), "BYE") || strings.Count(string(all), "BAD") != 4 || !strings.HasPrefix(string(all), "a BAD") {
		t.Errorf("got %q", all)
	}
}

// exchange sends one command line and returns every reply line up to the
// one tagged tag.
func exchange(conn net.Conn, br *bufio.Reader, tag, cmd string) string {
	io.WriteString(conn, cmd+"\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got strings.Builder
	for {
		l, err := br.ReadString('\n')
		got.WriteString(l)
		if err != nil || strings.HasPrefix(l, tag+" ") {
			return got.String()
		}
	}
}

// ENVELOPE address lists without a space between addresses (RFC 3501
// env-to = "(" 1*address ")").
func TestEnvelopeAddressList(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", "From: a@lab.test\r\nTo: bob@lab.test, carol@lab.test\r\nSubject: two\r\n\r\nhi\r\n")
	conn := labtest.Dial(t, e.plain)
	br := bufio.NewReader(conn)
	br.ReadString('\n')
	exchange(conn, br, "a", "a LOGIN alice alice")
	exchange(conn, br, "b", "b SELECT INBOX")
	got := exchange(conn, br, "c", "c FETCH 1 ENVELOPE")
	if !strings.Contains(got, `(NIL NIL "bob" "lab.test")(NIL NIL "carol" "lab.test")`) {
		t.Errorf("ENVELOPE: %s", got)
	}
}

// The same front filter on 993, above TLS; require_tls_for_auth is kept
// by the session and advertised as LOGINDISABLED on plaintext 143.
func TestConformanceOverTLS(t *testing.T) {
	e := start(t, func(c *config.Config) { c.IMAP.RequireTLSForAuth = true })
	deliver(t, e.deps, "alice", msg1)
	tc := &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"}
	conn, err := tls.Dial("tcp", e.secure, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "* OK") || strings.Contains(l, "STARTTLS") || strings.Contains(l, "LOGINDISABLED") {
		t.Errorf("993 greeting: %q", l)
	}
	for _, c := range []struct{ tag, cmd, want, not string }{
		{"a", "a", "a BAD", ""},
		{"b", "b STARTTLS", "b BAD", ""},
		{"c", "c CAPABILITY", "AUTH=PLAIN", "STARTTLS"},
		{"d", "d LOGIN alice alice", "d OK", ""},
		{"e", "e SELECT INBOX", "e OK", ""},
		{"f", "f SEARCH FOO", "f BAD [CLIENTBUG]", "SERVERBUG"},
		{"g", "g FETCH 0 FLAGS", "g BAD [CLIENTBUG]", ""},
		{"h", "h ENABLE IMAP4rev2", "* ENABLED\r\n", "IMAP4rev2"},
		{"i", "i LOGOUT", "* BYE", ""},
	} {
		got := exchange(conn, br, c.tag, c.cmd)
		if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("993 %s:\n%s\nwant %q, not %q", c.cmd, got, c.want, c.not)
		}
	}

	plain := labtest.Dial(t, e.plain)
	pr := bufio.NewReader(plain)
	if l, _ := pr.ReadString('\n'); !strings.Contains(l, "LOGINDISABLED") || strings.Contains(l, "AUTH=PLAIN") || !strings.Contains(l, "STARTTLS") {
		t.Errorf("143 greeting with require_tls_for_auth: %q", l)
	}
	if got := exchange(plain, pr, "a", "a LOGIN alice alice"); !strings.Contains(got, "a NO [PRIVACYREQUIRED]") {
		t.Errorf("LOGIN in clear: %s", got)
	}

	// After STARTTLS on 143: AUTH=PLAIN, no LOGINDISABLED nor STARTTLS,
	// and LOGIN works.
	sc, sr, caps := dialMode(t, e, "starttls")
	if !strings.Contains(caps, "AUTH=PLAIN") || strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "STARTTLS") {
		t.Errorf("CAPABILITY after STARTTLS: %q", caps)
	}
	if got := exchange(sc, sr, "a", "a LOGIN alice alice"); !strings.HasPrefix(got, "a OK") {
		t.Errorf("LOGIN after STARTTLS: %s", got)
	}
}

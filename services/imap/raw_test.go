package imap_test

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

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
		io.WriteString(conn, c.cmd+"\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got strings.Builder
		for {
			l, err := br.ReadString('\n')
			got.WriteString(l)
			if err != nil || strings.HasPrefix(l, "a ") {
				break
			}
		}
		if !strings.Contains(got.String(), c.want) || (c.not != "" && strings.Contains(got.String(), c.not)) {
			t.Errorf("%s:\n%s\nwant %q, not %q", c.cmd, got.String(), c.want, c.not)
		}
	}
}

package imap_test

import (
	"bufio"
	"context"
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

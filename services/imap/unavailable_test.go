package imap_test

import (
	"bufio"
	"strings"
	"testing"

	"labd/internal/labtest"
)

// A database that stops answering (PostgreSQL restarting, SQLite's disk
// failing) makes every command that needs it answer NO [UNAVAILABLE]
// (RFC 5530: try again later), never a wrong password nor a missing
// mailbox; failed logins are not counted against the student; and the
// same connection works again once the database is back.
func TestDatabaseDownAnswersUnavailable(t *testing.T) {
	d, db := labtest.DepsWithDownStore(t, labtest.Config(t))
	e := startWith(t, d)
	deliver(t, e.deps, "alice", msg1, msg2)
	conn := labtest.Dial(t, e.plain)
	br := bufio.NewReader(conn)
	br.ReadString('\n')

	db.SetDown(true)
	// More attempts than MaxAuthFailures: none may close the connection.
	for i := 0; i < 5; i++ {
		if got := exchange(conn, br, "a", "a LOGIN alice alice"); !strings.HasPrefix(got, "a NO [UNAVAILABLE]") {
			t.Fatalf("LOGIN with the database down, attempt %d: %q", i+1, got)
		}
	}
	db.SetDown(false)
	if got := exchange(conn, br, "a", "a LOGIN alice alice"); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("LOGIN once the database is back: %q", got)
	}
	if got := exchange(conn, br, "b", "b SELECT INBOX"); !strings.Contains(got, "b OK") {
		t.Fatalf("SELECT: %q", got)
	}

	db.SetDown(true)
	// Flags and sizes come from the selected mailbox's view, kept by the
	// store's events: no database needed.
	if got := exchange(conn, br, "c", `c FETCH 1:* (FLAGS RFC822.SIZE)`); !strings.Contains(got, "RFC822.SIZE 73)") || !strings.Contains(got, "c OK") {
		t.Errorf("FETCH FLAGS RFC822.SIZE with the database down:\n%s", got)
	}
	for _, cmd := range []string{
		`c UID FETCH 1 BODY[]`,
		`c SEARCH TEXT banana`,
		`c STORE 1 +FLAGS (\Flagged)`,
		`c COPY 1 Trash`,
		`c MOVE 2 Trash`,
		`c EXPUNGE`,
		`c STATUS INBOX (MESSAGES UIDNEXT)`,
		`c LIST "" "*"`,
		`c LSUB "" "*"`,
		`c CREATE Projets`,
		`c RENAME Trash Corbeille`,
		`c DELETE Junk`,
		`c SUBSCRIBE Junk`,
		`c APPEND Drafts {5+}` + "\r\nhello",
		`c EXAMINE Sent`,
		`c SELECT INBOX`,
	} {
		got := exchange(conn, br, "c", cmd)
		if !strings.Contains(got, "c NO [UNAVAILABLE]") {
			t.Errorf("%s with the database down:\n%s", strings.SplitN(cmd, "\r\n", 2)[0], got)
		}
	}

	db.SetDown(false)
	if got := exchange(conn, br, "d", "d SELECT INBOX"); !strings.Contains(got, "* 2 EXISTS") || !strings.Contains(got, "d OK") {
		t.Errorf("SELECT once the database is back (nothing moved while it was down):\n%s", got)
	}
	if got := exchange(conn, br, "d", `d FETCH 2 BODY.PEEK[TEXT]`); !strings.Contains(got, "banana") {
		t.Errorf("FETCH once the database is back:\n%s", got)
	}
}

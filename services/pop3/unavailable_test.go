package pop3_test

import (
	"encoding/base64"
	"testing"

	"labd/internal/labtest"
)

// A database that stops answering makes every command that needs it
// answer -ERR [SYS/TEMP] (RFC 3206: try again later), never a wrong
// password; those failures do not count towards the disconnect after
// repeated wrong passwords; nothing is deleted; and the service works
// again once the database is back.
func TestDatabaseDownAnswersSysTemp(t *testing.T) {
	d, db := labtest.DepsWithDownStore(t, labtest.Config(t))
	e := startWith(t, d)
	deliver(t, e.deps, "alice", "Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\nsecond\r\n")

	db.SetDown(true)
	c := open(t, e.plain)
	// More than MaxAuthFailures (3) attempts, USER/PASS and AUTH PLAIN.
	for i := 0; i < 4; i++ {
		c.cmd("USER alice", "+OK")
		c.cmd("PASS alice", "-ERR [SYS/TEMP]")
	}
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice")), "-ERR [SYS/TEMP]")
	db.SetDown(false)
	c.cmd("USER alice", "+OK")
	c.cmd("PASS alice", "+OK alice's maildrop has 2 messages")

	db.SetDown(true)
	// The maildrop was read at login: STAT and LIST answer from it.
	c.cmd("STAT", "+OK 2 ")
	c.cmd("LIST", "+OK")
	c.multi()
	c.cmd("RETR 1", "-ERR [SYS/TEMP]")
	c.cmd("TOP 2 0", "-ERR [SYS/TEMP]")
	c.cmd("DELE 1", "+OK")
	c.cmd("QUIT", "-ERR [SYS/TEMP]")

	db.SetDown(false)
	if n := count(t, e.deps, "alice"); n != 2 {
		t.Errorf("%d messages after a QUIT that could not commit, want 2", n)
	}
	c = open(t, e.plain)
	c.cmd("USER alice", "+OK")
	c.cmd("PASS alice", "+OK alice's maildrop has 2 messages")
	c.cmd("RETR 1", "+OK")
	c.multi()
	c.cmd("QUIT", "+OK")
}

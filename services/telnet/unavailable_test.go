package telnet_test

import (
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
)

// A user database that does not answer is not "Login incorrect": the
// student reads that the password was not checked, the attempts are not
// counted towards telnet.max_auth_tries, and the login works once the
// database is back, on the same connection.
func TestDatabaseDownIsNotLoginIncorrect(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.Telnet.MaxAuthTries = 3
	d, db := labtest.DepsWithDownStore(t, cfg)
	addr, _, _ := startDeps(t, d, 50*time.Millisecond)
	db.SetDown(true)
	cl := dial(t, addr)
	for i := 0; i < 5; i++ {
		cl.expect("login: ")
		cl.sendString("alice\n")
		cl.expect("Password: ")
		cl.sendString("alice\n")
		got := cl.expect("login: ")
		if !strings.Contains(got, "temporarily unavailable") || strings.Contains(got, "Login incorrect") {
			t.Fatalf("attempt %d with the database down: %q", i+1, got)
		}
		cl.read -= len("login: ")
	}
	db.SetDown(false)
	cl.expect("login: ")
	cl.sendString("alice\n")
	cl.expect("Password: ")
	cl.sendString("alice\n")
	cl.expect("alice@labd:~$ ")
	cl.sendString("exit\n")
	cl.waitEOF()
}

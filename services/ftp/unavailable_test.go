package ftp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"labd/internal/labtest"
)

// A user database that does not answer is not "Login incorrect": the 530
// (ftpserverlib's only answer to a failed PASS) says the password was not
// checked and to try again; once the database is back, the login works.
func TestDatabaseDownIsNotLoginIncorrect(t *testing.T) {
	d, db := labtest.DepsWithDownStore(t, labtest.Config(t))
	e := startWith(t, d)
	db.SetDown(true)
	for i := 0; i < 4; i++ {
		c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login("alice", "alice")
		c.Quit()
		if err == nil || !strings.Contains(err.Error(), "Temporary failure") || strings.Contains(err.Error(), "incorrect") {
			t.Fatalf("login %d with the database down: %v", i+1, err)
		}
	}
	db.SetDown(false)
	c := e.dial(t, "alice", "alice")
	if _, err := c.CurrentDir(); err != nil {
		t.Errorf("PWD after the database came back: %v", err)
	}
}

package ssh_test

import (
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"labd/internal/labtest"
)

// A user database that does not answer is not a wrong password: the
// client is told so in an authentication banner, the attempts do not feed
// the brute-force throttle, and logins work once the database is back.
func TestDatabaseDownIsNotAWrongPassword(t *testing.T) {
	d, db := labtest.DepsWithDownStore(t, labtest.Config(t))
	e := startWith(t, d)
	db.SetDown(true)
	for _, method := range []struct {
		name string
		auth gossh.AuthMethod
	}{
		{"password", gossh.Password("alice")},
		{"keyboard-interactive", kbdAnswer("alice", nil)},
	} {
		// Several tries, as many as a student retyping would make.
		for i := 0; i < 4; i++ {
			var mu sync.Mutex
			var banners []string
			cc := clientConfig("alice", method.auth)
			cc.BannerCallback = func(msg string) error {
				mu.Lock()
				banners = append(banners, msg)
				mu.Unlock()
				return nil
			}
			c, err := gossh.Dial("tcp", e.addr, cc)
			if err == nil {
				c.Close()
				t.Fatalf("%s login with the database down succeeded", method.name)
			}
			mu.Lock()
			got := strings.Join(banners, "")
			mu.Unlock()
			if !strings.Contains(got, "user database is unavailable") || !strings.Contains(got, "not a wrong password") {
				t.Errorf("%s with the database down: banners %q, error %v", method.name, got, err)
			}
		}
	}
	db.SetDown(false)
	c := e.login(t)
	if out := runCmd(t, c, "echo back"); !strings.Contains(out, "back") {
		t.Errorf("after the database came back: %q", out)
	}
}

package dashboard_test

import (
	"net/http"
	"strings"
	"testing"

	"labd/internal/labtest"
)

// A login the user database could not check says so (503, Retry-After),
// not "wrong password", and works once the database is back.
func TestLoginDatabaseDown(t *testing.T) {
	d, db := labtest.DepsWithDownStore(t, labtest.Config(t))
	e := startDeps(t, d)
	c := e.client(t)
	db.SetDown(true)
	resp, body := c.do("POST", "/labd/login", map[string][]string{"user": {"teacher"}, "password": {"teach-pw"}, "next": {"/labd/sessions"}})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "not checked") || strings.Contains(body, "Wrong") {
		t.Errorf("database down: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	db.SetDown(false)
	c.admin()
}

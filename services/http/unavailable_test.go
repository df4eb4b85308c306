package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"labd/internal/labtest"
)

// Basic credentials the user database could not check get 503 with
// Retry-After, not 401 (wrong password) nor 500.
func TestBasicAuthDatabaseDown(t *testing.T) {
	d, db := labtest.DepsWithDownStore(t, labtest.Config(t))
	e := startWith(t, d)
	db.SetDown(true)
	req, _ := http.NewRequest("GET", "http://"+e.plain+"/auth", nil)
	req.SetBasicAuth("alice", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "not checked") {
		t.Errorf("database down: %s Retry-After %q %q", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	db.SetDown(false)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("database back: %s", resp.Status)
	}
}

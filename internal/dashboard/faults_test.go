package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The teacher switches a fault on from the dashboard, the class board
// says a fault is on (not which), and one click clears it. Students
// cannot reach the page.
func TestFaultsPage(t *testing.T) {
	e := start(t)
	student := e.client(t)
	if r := student.login("alice", "alice"); r.StatusCode == http.StatusSeeOther && r.Header.Get("Location") == "/labd/sessions" {
		t.Fatal("a student logged in to the dashboard")
	}
	if resp, _ := student.get("/labd/faults"); resp.StatusCode == http.StatusOK {
		t.Error("the faults page is open to students")
	}

	c := e.client(t).admin()
	tok := c.csrf()
	resp, body := c.do("POST", "/labd/faults", url.Values{"csrf": {tok}, "kind": {"dns/drop"}, "params": {"percent=300"}, "minutes": {"5"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "from 1 to 100") {
		t.Errorf("a bad parameter: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = c.do("POST", "/labd/faults", url.Values{"csrf": {tok}, "kind": {"smtp/greylist"}, "params": {"delay=45s"}, "scope": {"user"}, "who": {"bob"}, "minutes": {"5"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set fault: %d", resp.StatusCode)
	}
	if resp, _ := c.do("POST", "/labd/faults", url.Values{"kind": {"dns/truncate"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: %d", resp.StatusCode)
	}
	_, body = c.get("/labd/faults")
	if !strings.Contains(body, "smtp greylist delay=45s") || !strings.Contains(body, "user bob") {
		t.Errorf("active fault not listed:\n%s", body)
	}
	list := e.deps.Faults.List()
	if len(list) != 1 || list[0].User != "bob" || list[0].Expires.Sub(list[0].Set).Minutes() != 5 {
		t.Fatalf("faults: %+v", list)
	}

	_, board := student.get("/labd/board")
	if !strings.Contains(board, `id="faults-on"`) || !strings.Contains(board, "<strong>smtp</strong>") || strings.Contains(board, "greylist") {
		t.Errorf("class board: a fault on smtp should show, without its kind:\n%s", board)
	}

	c.do("POST", "/labd/faults/clear", url.Values{"csrf": {tok}, "id": {"0"}})
	if n := len(e.deps.Faults.List()); n != 0 {
		t.Errorf("%d faults after clear all", n)
	}
	if _, board := student.get("/labd/board"); strings.Contains(board, `id="faults-on"`) {
		t.Error("the board still shows a fault")
	}
}

package dashboard_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The progress grid shows a student's basic-auth exercise once the 401 and
// the 200 sessions have ended (a done cell, not the legend's ✔), and the CSV export carries every
// student × exercise.
func TestProgressGridAndCSV(t *testing.T) {
	e := start(t)
	for _, creds := range [][2]string{{"", ""}, {"alice", "alice"}} {
		req, _ := http.NewRequest("GET", e.base+"/auth", nil)
		if creds[0] != "" {
			req.SetBasicAuth(creds[0], creds[1])
		}
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c := e.client(t).admin()
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for {
		_, body = c.get("/labd/progress")
		if strings.Contains(body, `id="student-alice"`) && strings.Contains(body, `<td class="done">`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's basic-auth exercise not shown done:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, `id="student-bob"`) || strings.Contains(body, `id="student-teacher"`) {
		t.Errorf("rows: every student, no admin:\n%s", body)
	}
	resp, csv := c.get("/labd/progress.csv")
	if resp.StatusCode != 200 || !strings.HasPrefix(csv, "user,exercise,status,time,session\n") {
		t.Fatalf("csv: %d\n%s", resp.StatusCode, csv)
	}
	if !strings.Contains(csv, "\nalice,http-basic-auth,done,") || !strings.Contains(csv, "\nbob,smtp-by-hand,not-started,,") {
		t.Errorf("csv rows:\n%s", csv)
	}
	if n := strings.Count(csv, "\n"); n != 1+2*14 {
		t.Errorf("csv has %d lines, want a header and 2 students x 14 exercises", n)
	}
	student := e.client(t)
	student.login("alice", "alice")
	if resp, _ := student.get("/labd/progress"); resp.StatusCode == http.StatusOK {
		t.Error("a student sees the class's progress")
	}
}

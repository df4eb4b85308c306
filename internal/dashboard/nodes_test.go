package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.StopPostgres()
	os.Exit(code)
}

// With several hosts on one database, the sessions page lists the other
// hosts' sessions (from the shared log) beside this host's, each with its
// node, and shows another host's transcript from the copy in the database.
func TestSessionsOfOtherNodes(t *testing.T) {
	dsn := labtest.Postgres(t)
	e := startWith(t, func(c *config.Config) {
		c.Store = config.Store{Driver: "postgres", DSN: dsn}
		c.Server.Node = "room-a"
	})
	// Host room-b's labd wrote these (internal/sessionlog does it).
	b, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{ConnectTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	transcript, _ := json.Marshal([]map[string]any{
		{"time": now, "dir": 1, "data": []byte("+OK POP3 ready\r\n"), "len": 16},
		{"time": now, "dir": 0, "data": []byte("PASS <b>hunter2</b>\r\n"), "len": 20},
	})
	err = b.RecordSessions(context.Background(), []store.SessionSummary{
		{Node: "room-b", Run: 42, ID: 9, Proto: "pop3", Transport: "tcp", Local: "192.0.2.2:110", Remote: "192.0.2.50:40000",
			User: "alice", Start: now, End: now.Add(time.Second), State: "ok", Transcript: transcript},
		{Node: "room-b", Run: 42, ID: 10, Proto: "imap", Transport: "tcp", Local: "192.0.2.2:143", Remote: "192.0.2.50:40001",
			Start: now, State: "open"},
		// room-b's dashboard's own connection: left out like ours.
		{Node: "room-b", Run: 42, ID: 11, Proto: "http", Transport: "tcp", Local: "192.0.2.2:80", Remote: "192.0.2.99:40002",
			Start: now, End: now, State: "ok", Attrs: map[string]string{"dashboard": "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t).admin()
	resp, body := c.get("/labd/sessions")
	mustStatus(t, resp, body, http.StatusOK)
	for _, want := range []string{`<th>Node</th>`, `<td>room-b</td>`, `href="/labd/nodes/room-b/sessions/9?run=42"`, `192.0.2.50:40000`} {
		if !strings.Contains(body, want) {
			t.Errorf("sessions page lacks %s", want)
		}
	}
	if strings.Contains(body, "192.0.2.99") {
		t.Error("another host's dashboard connection listed")
	}
	if _, body := c.get("/labd/sessions?all=1"); !strings.Contains(body, "192.0.2.99") {
		t.Error("all=1 does not list another host's dashboard connection")
	}
	_, body = c.get("/labd/api/sessions?proto=pop3")
	if !strings.Contains(body, `"node": "room-b"`) || strings.Contains(body, `"proto": "imap"`) {
		t.Errorf("JSON of pop3 sessions:\n%s", body)
	}
	resp, body = c.get("/labd/nodes/room-b/sessions/9?run=42")
	mustStatus(t, resp, body, http.StatusOK)
	// Masked by default, and escaped (the transcript is the student's).
	for _, want := range []string{"OK POP3 ready", "Copied from room-b", "Node</dt><dd>room-b"} {
		if !strings.Contains(body, want) {
			t.Errorf("transcript page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "hunter2") || strings.Contains(body, "<b>") {
		t.Error("transcript from the database: secret shown or markup not escaped")
	}
	resp, body = c.get("/labd/nodes/room-b/sessions/10")
	mustStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "still open on room-b") || strings.Contains(body, `data-open="1"`) {
		t.Errorf("open session of another host: %s", body)
	}
	resp, body = c.get("/labd/nodes/room-b/sessions/12")
	mustStatus(t, resp, body, http.StatusNotFound)
	// Students cannot read them.
	anon := e.client(t)
	if resp, _ := anon.get("/labd/nodes/room-b/sessions/9"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another host's transcript without login: %d", resp.StatusCode)
	}
}

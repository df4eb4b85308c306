package main

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
)

// Two labd hosts on one database: `labd sessions --all-nodes` on A lists
// the session a client had with B, with B's node name, and prints its
// transcript from the copy B wrote when the session ended; `labd user`
// run with A's config changes what B accepts at once.
func TestSessionsAllNodes(t *testing.T) {
	dsn := labtest.Postgres(t)
	conf := func(node string) string {
		path, _ := writeConfig(t, func(c *config.Config) {
			c.Store = config.Store{Driver: "postgres", DSN: dsn}
			c.Server.Node = node
		})
		return path
	}
	pathA, pathB := conf("room-a"), conf("room-b")
	serve(t, pathA)
	b := serve(t, pathB)

	c, err := net.Dial("tcp", b.addr(t, "http/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /status/404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	io.Copy(io.Discard, bufio.NewReader(c))
	client := c.LocalAddr().String()
	c.Close()

	row := regexp.MustCompile(`(?m)^room-b\s+(\d+)\s+http\s+CLOSED\s+` + regexp.QuoteMeta(b.addr(t, "http/tcp")) + `\s+` + regexp.QuoteMeta(client) + `\s`)
	var out string
	var m []string
	deadline := time.Now().Add(20 * time.Second)
	for m == nil {
		var code int
		out, code = labd(t, "sessions", "--all-nodes", "--config", pathA)
		if code != 0 {
			t.Fatalf("labd sessions --all-nodes: exit %d\n%s", code, out)
		}
		if m = row.FindStringSubmatch(out); m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("B's closed HTTP session not listed on A after 20 s:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !strings.HasPrefix(out, "NODE") {
		t.Errorf("no NODE column:\n%s", out)
	}
	out, code := labd(t, "sessions", "--transcript", m[1], "--node", "room-b", "--unmask", "--config", pathA)
	if code != 0 || !strings.Contains(out, `C>  GET /status/404 HTTP/1.1\r\n`) || !strings.Contains(out, `S<  HTTP/1.1 404 Not Found\r\n`) {
		t.Errorf("transcript of B's session read on A: %d\n%s", code, out)
	}
	web := "http://" + b.addr(t, "http/tcp")
	if out, code := labd(t, "user", "passwd", "alice", "--password", "n3w-pw", "--config", pathA); code != 0 {
		t.Fatalf("labd user passwd on A: %d %s", code, out)
	}
	if got := basicAuth(t, web, "alice", "n3w-pw"); got != 200 {
		t.Errorf("new password set on A, HTTP login on B: %d", got)
	}
	if got := basicAuth(t, web, "alice", "alice"); got != 401 {
		t.Errorf("old password on B after passwd on A: %d", got)
	}
	if out, code := labd(t, "user", "del", "alice", "--config", pathA); code != 0 {
		t.Fatalf("labd user del on A: %d %s", code, out)
	}
	if got := basicAuth(t, web, "alice", "n3w-pw"); got != 401 {
		t.Errorf("user removed on A, HTTP login on B: %d", got)
	}

	// One host (SQLite): --all-nodes says where the others would be.
	path, _ := writeConfig(t, nil)
	if out, code := labd(t, "sessions", "--all-nodes", "--config", path); code == 0 || !strings.Contains(out, "store.driver sqlite") {
		t.Errorf("--all-nodes on SQLite: %d %s", code, out)
	}
}

package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"labd/config"
)

// labd progress --csv prints the running daemon's progress for the
// gradebook; labd check reports a broken exercises file by line and key.
func TestProgressCLIAndCheck(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	web := "http://" + p.addr(t, "http/tcp")
	// One connection per request: a session is evaluated when it ends.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := noKeepAlive.Get(web + "/auth"); err == nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", web+"/auth", nil)
	req.SetBasicAuth("alice", "alice")
	if resp, err := noKeepAlive.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("basic auth: %v", err)
	} else {
		resp.Body.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, code := labd(t, "progress", "--csv", "--config", path)
		if code != 0 {
			t.Fatalf("progress: %d %s", code, out)
		}
		if strings.Contains(out, "alice,http-basic-auth,done,") {
			if !strings.HasPrefix(out, "user,exercise,status,time,session\n") || !strings.Contains(out, "bob,dns-mx,not-started,,") {
				t.Errorf("csv:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's exercise never done:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	bad := writeFile(t, "exercises:\n  - id: x\n    title: X\n    when: {protocol: [smtp], auth: maybe}\n")
	cfg3, _ := writeConfig(t, func(c *config.Config) { c.Exercises.File = bad })
	out, code := labd(t, "check", "--config", cfg3)
	if code == 0 || !strings.Contains(out, bad+":2: exercises[0].when: auth") {
		t.Errorf("check of a bad exercises file: %d\n%s", code, out)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(content)
	f.Close()
	return f.Name()
}

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestReloadRereadsConfig: SIGHUP and labd reload re-read labd.yaml. A
// valid change of the log level is applied, other changes are named as
// needing a restart, and a file with errors changes nothing and says why.
func TestReloadRereadsConfig(t *testing.T) {
	path, cfg := writeConfig(t, nil)
	p := serve(t, path)
	cfg.Server.LogLevel = "debug"
	cfg.SMTP.MaxConnsPerIP = 7
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := labd(t, "reload", "--config", path)
	if code != 0 || !strings.Contains(out, "applied server.log_level debug") || !strings.Contains(out, "needs a restart: smtp") {
		t.Errorf("labd reload after an edit: %d %s", code, out)
	}
	if err := os.WriteFile(path, append(b, []byte("\nsmtp:\n  no_such_key: 1\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "the running config stays") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "the running config stays") {
		t.Errorf("SIGHUP with a broken file: nothing said:\n%s", p.stderr.String())
	}
	if got := basicAuth(t, "http://"+p.addr(t, "http/tcp"), "alice", "alice"); got != 200 {
		t.Errorf("after a failed reload the daemon does not serve: %d", got)
	}
}

package main

import (
	"strings"
	"syscall"
	"testing"
)

// labd fault set/list/clear reach the running daemon; a fault survives a
// reload (SIGHUP) and ends with a restart.
func TestFaultCLI(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	out, code := labd(t, "fault", "set", "dns", "drop", "percent=30", "--addr", "127.0.0.9", "--for", "5m", "--config", path)
	if code != 0 || !strings.Contains(out, "fault 1: dns drop percent=30 for address 127.0.0.9") {
		t.Fatalf("fault set: %d %s", code, out)
	}
	out, code = labd(t, "fault", "set", "dns", "explode", "--config", path)
	if code != 1 || !strings.Contains(out, "its kinds: servfail, refused, delay, truncate, drop") {
		t.Errorf("unknown kind: %d %s", code, out)
	}
	out, code = labd(t, "fault", "set", "http", "latency", "ms=10", "--for", "100h", "--config", path)
	if code != 1 || !strings.Contains(out, "at most") {
		t.Errorf("beyond faults.max_duration: %d %s", code, out)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	out, _ = labd(t, "fault", "list", "--config", path)
	if !strings.Contains(out, "dns drop percent=30") || !strings.Contains(out, "address 127.0.0.9") {
		t.Errorf("fault list after a reload:\n%s", out)
	}
	out, code = labd(t, "fault", "clear", "1", "--config", path)
	if code != 0 || !strings.Contains(out, "1 fault cleared") {
		t.Errorf("fault clear: %d %s", code, out)
	}
	if out, _ = labd(t, "fault", "list", "--config", path); !strings.Contains(out, "no fault is active") {
		t.Errorf("after clear:\n%s", out)
	}
	if out, code = labd(t, "fault", "kinds"); code != 0 || !strings.Contains(out, "greylist") {
		t.Errorf("fault kinds: %d %s", code, out)
	}
}

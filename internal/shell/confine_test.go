package shell

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfinementAttacks: what a curious student tries to leave the home
// or take the daemon down fails with a message, and the shell goes on.
func TestConfinementAttacks(t *testing.T) {
	sh, deps := newShell(t)
	sh.maxSteps = 50_000
	home := deps.Layout.Home("alice")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"etc": "/etc", "out": outside, "up": "..", "abs": filepath.Join(outside, "secret")} {
		if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		line string
		bad  string // must not be in stdout
	}{
		{"cat < /etc/passwd", "root:"},
		{"echo x > /etc/x", ""},
		{"echo x >> ../x", ""},
		{"ls /*", "bin"},
		{"echo /*", "/bin"},
		{"cd / && ls", "bin"},
		{"cd /etc", ""},
		{"cd ../.. && pwd", "/home\n"},
		{"cat etc/passwd", "root:"},
		{"cat < etc/passwd", "root:"},
		{"cat out/secret", "SECRET"},
		{"cat abs", "SECRET"},
		{"cat up/bob/public_html/index.html", "<"},
		{"echo x > out/planted", ""},
		{"cd out", ""},
		{"ls out/", "secret"},
		{"echo out/*", "secret"},
		{"grep -r SECRET out", "SECRET"},
		{"find out", "secret"},
		{"tar czf t.tgz out; tar tzf t.tgz", "secret"},
		{"cp out/secret mine", ""},
		{"source /etc/profile", ""},
		{". etc/passwd", ""},
		{"/bin/sh -c id", "uid=0"},
		{"exec /bin/ls", "bin"},
		{"cat ~root/.bashrc", ""},
		{"du -s /", ""},
		{"stat /etc/passwd", "File:"},
		{"file /etc/passwd", "text"},
		{"chmod 777 /etc/passwd", ""},
	} {
		o, _, st := run(t, sh, tc.line)
		if st == 0 && !strings.HasPrefix(tc.line, "echo ") && !strings.HasPrefix(tc.line, "file ") {
			t.Errorf("%q: status 0 (stdout %q)", tc.line, o)
		}
		if tc.bad != "" && strings.Contains(o, tc.bad) {
			t.Errorf("%q leaked %q: %q", tc.line, tc.bad, o)
		}
	}
	for _, p := range []string{"/etc/x", filepath.Join(deps.Layout.HomeRoot(), "x"), filepath.Join(outside, "planted")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written outside the home", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(home, "mine")); err == nil && strings.Contains(string(b), "SECRET") {
		t.Error("cp copied a file from outside the home")
	}
	// Resource attacks stop with a message; the shell keeps working.
	for _, line := range []string{
		"seq 1 100000000 | sort",
		"seq 1 1000000000 > /dev/null",
		"seq 1 1000000000 > big.txt",
		"x=$(seq 1 100000000)",
		"f() { f & f; }; f",
		"f() { echo $1; f x$1; }; f",
		"while :; do echo y; done | head -1",
	} {
		start := time.Now()
		_, e, st := run(t, sh, line)
		if st == 0 {
			t.Errorf("%q: status 0: want a limit", line)
		}
		t.Logf("%q: status %d after %v: %s", line, st, time.Since(start).Round(time.Millisecond), firstLine(e))
		if o, _, st := run(t, sh, "echo alive"); st != 0 || o != "alive\n" {
			t.Fatalf("after %q the shell is broken: %q %d", line, o, st)
		}
	}
	if fi, err := os.Stat(filepath.Join(home, "big.txt")); err == nil && fi.Size() > maxOutBytes+1<<20 {
		t.Errorf("big.txt grew to %d bytes", fi.Size())
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

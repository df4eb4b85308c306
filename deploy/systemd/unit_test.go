// Package systemd holds the unit file; this test has systemd-analyze
// verify it, as the issue asks, with ExecStart pointed at an existing
// binary so that the check of the executable passes.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"labd/internal/labtest"
)

func TestUnitVerifies(t *testing.T) {
	analyze := labtest.Tool(t, "systemd-analyze")
	unit, err := os.ReadFile("labd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "User=labd", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "StateDirectory=labd", "ConfigurationDirectory=labd", "Restart=on-failure", "ProtectSystem=strict", "ExecReload="} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	self, _ := os.Executable()
	text := strings.ReplaceAll(string(unit), "/usr/bin/labd", self)
	path := filepath.Join(t.TempDir(), "labd.service")
	os.WriteFile(path, []byte(text), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

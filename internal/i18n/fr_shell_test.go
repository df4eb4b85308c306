package i18n

import "testing"

// TestShellKeysAgree: a key of the shell's table that another table also
// has must translate the same, or merge would pick one silently.
func TestShellKeysAgree(t *testing.T) {
	for name, m := range map[string]map[string]string{"frDashboard": frDashboard, "frFaults": frFaults, "frStart": frStart, "frCLI": frCLI, "frOps": frOps} {
		for k, v := range frShell {
			if w, ok := m[k]; ok && w != v {
				t.Errorf("%q: frShell says %q, %s says %q", k, v, name, w)
			}
		}
	}
	// And no table merged after it changed one of its texts.
	for k, v := range frShell {
		if got := french()[k]; got != Typography(v) {
			t.Errorf("%q: the catalog says %q, frShell %q", k, got, v)
		}
	}
}

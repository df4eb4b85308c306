// Package contract helps the contract tests that pin how a library
// behaves inside where labd depends on it (a shim, a private field). It
// imports nothing of labd, so a package's internal tests can use it.
package contract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Pin fails a contract test when the module it was written against is no
// longer at that version in go.mod: labd depends on how that version
// behaves inside (what, and where), and an upgrade must re-check it. The
// message says what to do: re-read the shim named in what against the new
// version, run the test, then update the version it pins.
func Pin(t testing.TB, module, version, what string) {
	t.Helper()
	got := requiredVersion(t, module)
	if got == "" {
		t.Fatalf("%s is no longer required in go.mod (pinned %s): remove this contract test if labd no longer uses it", module, version)
	}
	if got != version {
		t.Fatalf("%s is at %s in go.mod, this contract was checked against %s. labd depends on: %s. "+
			"Re-read that code against %s, make this test pass, then update the pinned version in the test.",
			module, got, version, what, got)
	}
}

// requiredVersion reads the version of module from the go.mod above the
// test's directory (test binaries carry no dependency build info). Since
// Go 1.17 go.mod lists every module the build selects, at that version.
func requiredVersion(t testing.TB, module string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
				if len(f) >= 2 && f[0] == module {
					return f[1]
				}
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

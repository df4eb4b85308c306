package exercises_test

import (
	"regexp"
	"testing"

	"labd/internal/i18n"
	"labd/internal/labtest"
)

// TestGeneratedHintsInCatalog fails when a hint labd writes itself (say,
// tr.T) is missing from the French catalog.
func TestGeneratedHintsInCatalog(t *testing.T) {
	keys := labtest.Literals(t, regexp.MustCompile(`(?:\bsay|tr\.T)\(("(?:[^"\\]|\\.)*")`))
	for _, k := range keys {
		if !i18n.Has(k.Text) {
			t.Errorf("%s: %q is not in the French catalog", k.File, k.Text)
		}
	}
	if n := len(keys); n < 15 {
		t.Fatalf("only %d keys found: the pattern no longer matches", n)
	}
}

package dashboard

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"labd/internal/faults"
	"labd/internal/i18n"
)

// keyRE finds the literal keys of {{t "..."}} and {{th "..."}}.
var keyRE = regexp.MustCompile(`\{\{-?\s*(?:t|th) ("(?:[^"\\]|\\.)*")`)

// goKeyRE finds the literal keys the handlers translate: d.tr.T("..."),
// and the ladder diagram's labels: f.t("...").
var goKeyRE = regexp.MustCompile(`(?:tr\.T|f\.t)\(("(?:[^"\\]|\\.)*")`)

// TestEveryKeyTranslated fails when a template or a handler uses a text
// that the French catalog lacks: it would show in English on a French
// dashboard.
func TestEveryKeyTranslated(t *testing.T) {
	keys := map[string]string{} // key -> where
	err := fs.WalkDir(templateFS, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, p)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			k, err := strconv.Unquote(m[1])
			if err != nil {
				t.Errorf("%s: %s: %v", p, m[1], err)
			}
			keys[k] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gos, _ := filepath.Glob("*.go")
	for _, f := range gos {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKeyRE.FindAllStringSubmatch(string(b), -1) {
			k, _ := strconv.Unquote(m[1])
			keys[k] = f
		}
		// The messages of d.fail are translated when they are whole keys.
		for _, m := range regexp.MustCompile(`d\.fail\(w, r, http\.\w+, ("(?:[^"\\]|\\.)*")\)`).FindAllStringSubmatch(string(b), -1) {
			k, _ := strconv.Unquote(m[1])
			keys[k] = f
		}
	}
	if len(keys) < 150 {
		t.Fatalf("only %d keys found: the patterns no longer match the templates", len(keys))
	}
	for k, where := range keys {
		if !i18n.Has(k) {
			t.Errorf("%s: %q is not in the French catalog (internal/i18n/fr.go)", where, k)
		}
	}
}

// TestFaultHelpTranslated: the Faults page shows each kind's help.
func TestFaultHelpTranslated(t *testing.T) {
	for _, k := range faults.Kinds {
		if !i18n.Has(k.Help) {
			t.Errorf("fault %s/%s: help %q is not in the French catalog (internal/i18n/fr.go, frFaults)", k.Service, k.Name, k.Help)
		}
	}
}

// TestNoBareText fails on visible English left in a template outside
// {{t}}: what is left once actions and tags are removed must be symbols,
// numbers or names that are the same in every language.
func TestNoBareText(t *testing.T) {
	same := map[string]bool{"labd": true, "DNS": true, "TLS": true, "ID": true, "UID": true, "UIDVALIDITY": true, "UIDNEXT": true,
		"TTL": true, "Rcode": true, "Wireshark": true, "pcapng": true}
	action := regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	tag := regexp.MustCompile(`(?s)<[^>]*>`)
	// Command lines are typed as they are in every language.
	code := regexp.MustCompile(`(?s)<code>.*?</code>`)
	word := regexp.MustCompile(`[A-Za-z][A-Za-z']+`)
	err := fs.WalkDir(templateFS, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(templateFS, p)
		s := action.ReplaceAllString(string(b), " ")
		s = code.ReplaceAllString(s, " ")
		s = tag.ReplaceAllString(s, " ")
		for _, w := range word.FindAllString(s, -1) {
			if !same[w] {
				t.Errorf("%s: %q is shown untranslated", p, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

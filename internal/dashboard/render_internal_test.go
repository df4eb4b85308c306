package dashboard

import (
	"testing"

	"labd/internal/i18n"
)

// TestEveryTemplateParses: the pages' templates are parsed at first use
// (parseTemplates), so a broken one would show only when its page is
// opened; here every one is parsed, in both languages, and an unknown
// page is an error rather than a panic.
func TestEveryTemplateParses(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		d := &Dashboard{tr: i18n.New(lang)}
		d.parseTemplates()
		for _, p := range pages {
			if _, err := d.template(p); err != nil {
				t.Errorf("%s: %v", lang, err)
			}
		}
		if _, err := d.template("no-such-page"); err == nil {
			t.Errorf("%s: an unknown page parsed", lang)
		}
	}
}

package exercises

import (
	"testing"

	"labd/internal/sessions"
)

// TestBuiltinFrench fails when a built-in exercise lacks its French title,
// description or the French of one of its hints.
func TestBuiltinFrench(t *testing.T) {
	exs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exs {
		if e.TitleFR == "" || e.DescriptionFR == "" {
			t.Errorf("%s: title_fr or description_fr missing", e.ID)
		}
		for _, c := range append([]Condition{e.When}, e.Also...) {
			for _, s := range c.Steps {
				if s.Hint != "" && s.HintFR == "" {
					t.Errorf("%s: hint %q has no hint_fr", e.ID, s.Hint)
				}
			}
		}
	}
}

func TestMissingInFrench(t *testing.T) {
	tls := true
	c := Condition{Protocol: []string{"smtp"}, TLS: &tls}
	if err := c.compile(); err != nil {
		t.Fatal(err)
	}
	out, m := c.match(&Record{Info: sessions.Info{Proto: "smtp"}})
	if out != Started || m.EN != "the session did not use TLS" || m.In("fr") != "la session n'a pas utilisé TLS" {
		t.Errorf("got %v %+v", out, m)
	}
	e := Entry{Missing: "x"}
	if e.MissingIn("fr") != "x" {
		t.Errorf("an entry without French falls back to English: %q", e.MissingIn("fr"))
	}
}

package i18n

import (
	"errors"
	"strings"
	"testing"
)

func TestFrench(t *testing.T) {
	fr := New("fr")
	for _, tc := range []struct {
		key  string
		args []any
		want string
	}{
		{"Mailbox", nil, "Boîte aux lettres"},
		{"Password:", nil, "Mot de passe\u00a0:"},
		{"Mailboxes of %s", []any{"alice"}, "Boîtes aux lettres de l'utilisateur alice"},
		// CLDR: 0 and 1 are singular in French, only 1 in English.
		{"%d messages", []any{0}, "0 message"},
		{"%d messages", []any{1}, "1 message"},
		{"%d messages", []any{2}, "2 messages"},
		{"Show the %d secret(s) sent in this session", []any{1}, "Afficher le secret envoyé dans cette session"},
		{"Show the %d secret(s) sent in this session", []any{3}, "Afficher les 3 secrets envoyés dans cette session"},
		{"not in the catalog", nil, "not in the catalog"},
	} {
		if got := fr.T(tc.key, tc.args...); got != tc.want {
			t.Errorf("fr %q %v: got %q, want %q", tc.key, tc.args, got, tc.want)
		}
	}
	en := New("en")
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 messages"}, {1, "1 message"}, {2, "2 messages"}} {
		if got := en.T("%d messages", tc.n); got != tc.want {
			t.Errorf("en %d: got %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := en.T("Mailbox"); got != "Mailbox" {
		t.Errorf("en: got %q", got)
	}
	if got := New("de").Lang(); got != "en" {
		t.Errorf("unknown language gives %q", got)
	}
}

func TestMiss(t *testing.T) {
	var missed []string
	p := New("fr").OnMiss(func(k string) { missed = append(missed, k) })
	p.T("Mailbox")
	p.T("no such key")
	if len(missed) != 1 || missed[0] != "no such key" {
		t.Fatalf("missed %v", missed)
	}
	if got := p.Err(errors.New("No such user.")); got != "Utilisateur inconnu." {
		t.Errorf("Err: %q", got)
	}
	if got := p.Err(errors.New("disk full")); got != "disk full" {
		t.Errorf("Err: %q", got)
	}
}

// TestCatalog checks the French catalog itself: every plural has both
// forms, the typography rules hold and no value was left in English.
func TestCatalog(t *testing.T) {
	for k, forms := range frenchPlural {
		if _, ok := englishPlural[k]; !ok {
			t.Errorf("%q: French plural without English forms", k)
		}
		if forms[0] == "" || forms[1] == "" {
			t.Errorf("%q: a plural form is empty", k)
		}
	}
	for k, v := range french() {
		if strings.Contains(v, " :") || strings.Contains(v, " ?") || strings.Contains(v, " !") || strings.Contains(v, " ;") {
			t.Errorf("%q: a plain space before punctuation in %q", k, v)
		}
		if strings.Count(k, "%") != strings.Count(v, "%") {
			t.Errorf("%q: the verbs differ in %q", k, v)
		}
		if strings.Count(k, "<") != strings.Count(v, "<") {
			t.Errorf("%q: the markup differs in %q", k, v)
		}
	}
}

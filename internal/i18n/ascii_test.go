package i18n

import "testing"

func TestToASCII(t *testing.T) {
	for in, want := range map[string]string{
		"serveur IMAP prêt":                   "serveur IMAP pret",
		Typography("à « vous » : ça ; œuvre"): "a \"vous\" : ca; oeuvre",
		"déjà… — ok":                          "deja... - ok",
		"日本":                                  "??",
	} {
		if got := ToASCII(in); got != want {
			t.Errorf("ToASCII(%q) = %q, want %q", in, got, want)
		}
	}
	if got := New("fr").ASCII("IMAP server ready"); got != "serveur IMAP pret" {
		t.Errorf("ASCII: %q", got)
	}
	if got := New("en").ASCII("IMAP server ready"); got != "IMAP server ready" {
		t.Errorf("ASCII en: %q", got)
	}
}

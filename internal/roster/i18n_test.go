package roster

import (
	"strings"
	"testing"

	"labd/internal/i18n"
)

func TestProblemsInFrench(t *testing.T) {
	_, problems := ParseIn(strings.NewReader("name\nann\nann\nbob,pw,maybe\ncarol\n"), "classe.csv",
		func(name string) bool { return name == "carol" }, i18n.New("fr"))
	want := []string{
		"classe.csv\u00a0: ligne CSV 3 incorrecte\u00a0: ann figure déjà à la ligne 2",
		"classe.csv\u00a0: ligne CSV 4 incorrecte\u00a0: le champ admin \"maybe\" n'est ni yes ni no",
		"classe.csv\u00a0: ligne 5\u00a0: l'utilisateur carol existe déjà",
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

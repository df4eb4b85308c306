package shell

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"labd/internal/i18n"
)

// frShell is a French shell that reports every text missing from the
// catalog.
func frShell(t *testing.T) (*Shell, *[]string) {
	t.Helper()
	missed := &[]string{}
	seen := map[string]bool{}
	tr := i18n.New("fr").OnMiss(func(k string) {
		if !seen[k] {
			seen[k] = true
			*missed = append(*missed, k)
		}
	})
	deps := testDeps(t)
	sh, err := New(Env{Deps: deps, User: "alice", Proto: "ssh", Remote: "127.0.0.1:40000", Tr: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return sh, missed
}

func reportMissed(t *testing.T, missed []string) {
	t.Helper()
	if len(missed) == 0 {
		return
	}
	sort.Strings(missed)
	var b strings.Builder
	for _, k := range missed {
		b.WriteString("\t" + strconv.Quote(k) + ": \"\",\n")
	}
	t.Errorf("%d shell texts are missing from the French catalog (internal/i18n/fr_shell.go):\n%s", len(missed), b.String())
}

// TestSourceTextsTranslated reads the shell's source: every literal text
// given to the translating helpers (failf, usageError, t, tf, errorf, limitf and
// errors.New whose text trArg translates) and every
// help line, hint and man example must be in the French catalog, so that
// an error path no test reaches still speaks French.
func TestSourceTextsTranslated(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var missed []string
	seen := map[string]bool{}
	check := func(lit *ast.BasicLit) {
		if lit == nil || lit.Kind != token.STRING {
			return
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil || !wordy(s) || seen[s] || internalErrors[s] {
			return
		}
		seen[s] = true
		if !i18n.Has(s) {
			missed = append(missed, s)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				name = fn.Sel.Name
				if x, ok := fn.X.(*ast.Ident); ok && x.Name == "errors" && name == "New" {
					name = "errors.New"
				}
			case *ast.Ident:
				name = fn.Name
			}
			switch name {
			case "failf", "usageError", "t", "tf", "prompt", "errorf", "limitf", "errors.New":
				arg := call.Args[0]
				if name == "prompt" && len(call.Args) > 1 {
					arg = call.Args[1]
				}
				if lit, ok := arg.(*ast.BasicLit); ok {
					check(lit)
				}
			}
			return true
		})
	}
	var texts []string
	for _, c := range commands {
		texts = append(texts, c.help)
	}
	for _, h := range shellBuiltins {
		texts = append(texts, h)
	}
	for _, h := range hints {
		texts = append(texts, h)
	}
	for _, ex := range manExamples {
		for _, e := range ex {
			if strings.Contains(e, "(") {
				texts = append(texts, e)
			}
		}
	}
	for _, k := range editorKeys {
		texts = append(texts, k[1])
	}
	for _, s := range texts {
		if !seen[s] && !i18n.Has(s) {
			seen[s] = true
			missed = append(missed, s)
		}
	}
	reportMissed(t, missed)
}

// internalErrors never reach the user as they are.
var internalErrors = map[string]bool{"limit": true, "line abandoned": true}

// TestFrenchHelpAndErrors runs help, every command's --help, man for every
// command and builtin, and the common error paths in a French shell: no
// text may be missing from the catalog, and what help prints must not be
// the English text (a message that bypasses the catalog).
func TestFrenchHelpAndErrors(t *testing.T) {
	fr, missed := frShell(t)
	en, _ := newShell(t)
	if _, _, st := run(t, fr, "mkdir -p dir && echo hi > f.txt"); st != 0 {
		t.Fatal("setup failed")
	}
	var lines []string
	for n := range commands {
		if n != "echo" {
			lines = append(lines, n+" --help")
		}
		lines = append(lines, "man "+n)
	}
	for n := range shellBuiltins {
		lines = append(lines, "man "+n)
		if _, dup := commands[n]; !dup && n != "echo" {
			lines = append(lines, n+" --help")
		}
	}
	sort.Strings(lines)
	lines = append([]string{"help"}, lines...)
	for _, line := range lines {
		fo, fe, _ := run(t, fr, line)
		eo, _, _ := run(t, en, line)
		if fe != "" {
			t.Errorf("%s: stderr %q", line, fe)
		}
		if fo == "" || fo == eo {
			t.Errorf("%s: the French output is the English one:\n%s", line, fo)
		}
	}
	for _, tc := range []struct{ line, want string }{
		{"nosuchcmd", "nosuchcmd: commande introuvable (tapez help pour la liste des commandes)"},
		{"./prog", "ne lance aucun fichier programme"},
		{"cat nofile", "cat: nofile: Aucun fichier ou dossier de ce type"},
		{"cat /etc/passwd", "permission refusée (le shell de TP n'accède qu'à votre répertoire personnel)"},
		{"ls /etc", "ls: impossible d'accéder à '/etc'"},
		{"cd /etc", "cd: /etc: permission refusée"},
		{"cd nodir", "cd: nodir: Aucun fichier ou dossier de ce type"},
		{"cd f.txt", "cd: f.txt: N'est pas un répertoire"},
		{"cd a b", "cd: trop d'arguments"},
		{"cat dir", "cat: dir\u00a0: Est un répertoire"},
		{"rm dir", "rm: impossible de supprimer 'dir'\u00a0: Est un répertoire"},
		{"rm", "rm: opérande manquant"},
		{"mkdir dir", "mkdir: impossible de créer le répertoire 'dir'\u00a0: Le fichier existe"},
		{"mv f.txt", "mv: opérande de fichier de destination manquant"},
		{"ls -Z", "ls: option non valide -- 'Z'\nutilisation\u00a0: ls"},
		{"sort -Z", "sort: l'option -Z n'est pas prise en charge"},
		{"ls --color", "ls: option non valide -- '-'"},
		{"sort --reverse", "sort: l'option --reverse n'est pas prise en charge"},
		{"grep -P x f.txt", "utilisez -E"},
		{"tail -f f.txt", "relancez tail"},
		{"head -n", "head: -n demande une valeur"},
		{"man", "utilisation\u00a0: man COMMAND"},
		{"man nosuch", "aucune page de manuel pour nosuch"},
		{"nc -l 25", "le shell de TP ne peut pas écouter"},
		{"nc 127.0.0.1 1", "non autorisé depuis le shell de TP"},
		{"ping localhost", "ICMP n'est pas disponible"},
		{"type nosuch", "type: nosuch: introuvable"},
		{"type ls", "ls est /bin/ls (intégré à labd)"},
		{"nano", "ce programme demande un terminal interactif"},
		{"seq x", "seq: \"x\" n'est pas un nombre"},
		{"sed", "il faut un script"},
		{"mail", "Aucun courriel"},
		{"mail 99", "aucun message 99"},
		{"mail send alice hello body && mail", "Courriel remis à alice@"},
		{"mail", "Boîte de réception (INBOX) de alice\u00a0: 1 message(s), 1 non lu(s)"},
		{"echo a > a.txt; diff -q a.txt f.txt", "Les fichiers a.txt et f.txt sont différents"},
		{"chmod -v 600 f.txt", "mode de 'f.txt' changé en 0600 (-rw-------)"},
		{"netstat", "Connexions Internet actives (les sockets de labd)"},
		{"curl gopher://localhost/", "curl: (1) Protocole \"gopher\" non pris en charge ici"},
		{"mail send nobody subj body", "nobody\u00a0: utilisateur inconnu ici"},
		{"chmod o+w f.txt", "les autres ne peuvent pas recevoir le droit d'écriture"},
		{"cat <(ls)", "la substitution de processus <(...) n'est pas prise en charge"},
	} {
		fo, fe, _ := run(t, fr, tc.line)
		if fe += fo; !strings.Contains(fe, tc.want) {
			t.Errorf("%s: printed %q, want %q", tc.line, fe, tc.want)
		}
	}
	// A limit says what stopped the line, in French too.
	fr.maxSteps = 1000
	if _, fe, st := run(t, fr, "while :; do :; done"); st != 124 || !strings.Contains(fe, "labsh: arrêté\u00a0: plus de 1000 commandes dans une ligne\u202f; faites des boucles plus petites") {
		t.Errorf("limit: status %d, stderr %q", st, fe)
	}
	reportMissed(t, *missed)
}

// TestFrenchEditor: nano's title, status and key lines in French, and its
// (O/N) question takes "o"; the pager's status line.
func TestFrenchEditor(t *testing.T) {
	sh, missed := frShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	prompt := "alice@labd:~$ "
	p.waitFor(t, prompt, 1)
	p.typeIn(t, "nano note.txt\r")
	p.waitFor(t, "labd nano   Fichier\u00a0: note.txt", 1)
	p.waitFor(t, "[ Nouveau fichier ]", 1)
	p.waitFor(t, "\x1b[7m^O\x1b[0m Enregistrer  \x1b[7m^X\x1b[0m Quitter  \x1b[7m^W\x1b[0m Chercher", 1)
	p.typeIn(t, "bonjour")
	p.waitFor(t, "Fichier\u00a0: note.txt   Modifié", 1)
	p.typeIn(t, "\x07") // ^G
	p.waitFor(t, "^X quitter", 1)
	p.typeIn(t, "\x18") // ^X
	p.waitFor(t, "Enregistrer les modifications\u202f? (O/N)\u00a0:", 1)
	p.typeIn(t, "o\r")
	p.waitFor(t, "Nom du fichier à écrire\u00a0: note.txt", 1)
	p.typeIn(t, "\r")
	p.waitFor(t, prompt, 2)
	b, err := os.ReadFile(filepath.Join(sh.env.Deps.Layout.Home("alice"), "note.txt"))
	if err != nil || string(b) != "bonjour\n" {
		t.Errorf("the file: %q, %v", b, err)
	}
	// The pager's status line.
	p.typeIn(t, "seq 1 100 | less\r")
	p.waitFor(t, "--Plus-- (23%) espace\u00a0: page, Entrée\u00a0: ligne, b\u00a0: retour, q\u00a0: quitter", 1)
	p.typeIn(t, "q")
	p.waitFor(t, prompt, 3)
	p.typeIn(t, "exit\r")
	if err := <-errc; err != nil {
		t.Error(err)
	}
	reportMissed(t, *missed)
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"labd/internal/i18n"
	"labd/internal/labtest"
)

// TestCLIKeysTranslated fails when a message the labd command translates,
// or a line of its usage text that describes something, is missing from
// the French catalog.
func TestCLIKeysTranslated(t *testing.T) {
	keys := labtest.Literals(t, regexp.MustCompile(`tr\.T\(("(?:[^"\\]|\\.)*")`))
	for _, k := range keys {
		if !i18n.Has(k.Text) {
			t.Errorf("%s: %q is not in the French catalog", k.File, k.Text)
		}
	}
	if n := len(keys); n < 30 {
		t.Fatalf("only %d keys found: the pattern no longer matches", n)
	}
	// A usage line whose words are not only the command's syntax needs a
	// translation ("labd user list" does not).
	syntax := regexp.MustCompile(`^\s*labd [a-z]+( [a-z]+)?( [A-Z.]+| \[[^]]*\]| \|| [a-z]+| -o FILE| --[a-z-]+)*$`)
	for _, l := range strings.Split(usage, "\n") {
		if strings.TrimSpace(l) == "" || syntax.MatchString(l) {
			continue
		}
		if !i18n.Has(l) {
			t.Errorf("usage line not in the French catalog: %q", l)
		}
	}
}

func TestUsageInFrench(t *testing.T) {
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")
	t.Setenv("LANG", "fr_FR.UTF-8")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, w := range []string{"Utilisation\u00a0:", "vérifie une configuration", "labd user add NAME [--password P] [--admin]"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("French usage: %q missing:\n%s", w, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "commande inconnue\u00a0: \"frobnicate\"") {
		t.Errorf("unknown command: exit %d, %s", code, errb.String())
	}
	t.Setenv("LANG", "C.UTF-8")
	out.Reset()
	run(context.Background(), []string{"help"}, &out, &errb)
	if !strings.Contains(out.String(), "validate a config") {
		t.Errorf("English usage under LANG=C:\n%s", out.String())
	}
}

func TestUserMessagesInFrench(t *testing.T) {
	path, _ := writeConfig(t, nil)
	t.Setenv("LC_ALL", "fr_FR.UTF-8")
	cmd := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), append(args, "--config", path), &out, &out)
		return code, out.String()
	}
	if code, out := cmd("user", "add", "carol", "--password", "pw-carol-1"); code != 0 || !strings.Contains(out, "utilisateur carol créé") {
		t.Errorf("user add: %d %s", code, out)
	}
	if code, out := cmd("user", "add", "carol"); code != 1 || !strings.Contains(out, "l'utilisateur carol existe déjà (choisissez un autre nom") {
		t.Errorf("duplicate user: %d %s", code, out)
	}
	if code, out := cmd("user", "passwd", "nobody", "--password", "x"); code != 1 || !strings.Contains(out, "l'utilisateur nobody n'existe pas") {
		t.Errorf("passwd of a missing user: %d %s", code, out)
	}
}

// TestCLINoBareEnglish fails when the labd command writes a sentence that
// does not go through the catalog: a string literal with words, given to
// fmt.Fprint*, fmt.Errorf, errors.New or usageError, outside c.tr.T. Flag
// help strings are left to the flag package, which writes English itself.
func TestCLINoBareEnglish(t *testing.T) {
	callRE := regexp.MustCompile(`(?:fmt\.Fprint(?:f|ln)?\(\w+(?:\.\w+)?,|fmt\.Errorf\(|errors\.New\(|usageError\{(?:fmt\.Sprintf\()?)\s*("(?:[^"\\]|\\.)*")`)
	// Verbs, escapes and --flags are not words.
	verbRE := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]|\\[nt]|--[a-z-]+`)
	wordRE := regexp.MustCompile(`[a-z]{3,}`)
	// Literals that are not sentences: names and command lines as typed.
	allowed := map[string]string{
		"labd":                                  "the program's name, before its version",
		"store copy: %w":                        "the subcommand as typed, before the store's error",
		"  plink -batch%s %s alice@%s whoami\n": "a command line to copy",
	}
	for _, l := range labtest.Literals(t, callRE) {
		if _, ok := allowed[l.Text]; ok {
			continue
		}
		rest := verbRE.ReplaceAllString(l.Text, " ")
		rest = strings.ReplaceAll(rest, "labd", "")
		if wordRE.MatchString(rest) {
			t.Errorf("%s: %q is written without c.tr.T: put it in the catalog (internal/i18n/fr_ops.go)", l.File, l.Text)
		}
	}
}

func TestCLIOutputInFrench(t *testing.T) {
	path, _ := writeConfig(t, nil)
	t.Setenv("LC_ALL", "fr_FR.UTF-8")
	out, code := labd(t, "fault", "kinds")
	if code != 0 || !strings.Contains(out, "PARAMÈTRES") {
		t.Errorf("fault kinds: %d\n%s", code, out)
	}
	out, code = labd(t, "check", "--config", path)
	for _, want := range []string{"ADRESSE", "libre", "la configuration est valide"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("check: %d, %q missing:\n%s", code, want, out)
		}
	}
	out, code = labd(t, "store", "copy", "--from", "sqlite:"+filepath.Join(t.TempDir(), "none.db"), "--to", "sqlite:x")
	if code != 1 || !strings.Contains(out, "base SQLite") {
		t.Errorf("store copy from a missing file: %d\n%s", code, out)
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"labd/internal/i18n"
)

// TestCLIKeysTranslated fails when a message the labd command translates,
// or a line of its usage text that describes something, is missing from
// the French catalog.
func TestCLIKeysTranslated(t *testing.T) {
	keyRE := regexp.MustCompile(`tr\.T\(("(?:[^"\\]|\\.)*")`)
	files, _ := filepath.Glob("*.go")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			k, _ := strconv.Unquote(m[1])
			n++
			if !i18n.Has(k) {
				t.Errorf("%s: %q is not in the French catalog", f, k)
			}
		}
	}
	if n < 30 {
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

package http_test

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"labd/internal/i18n"
	"labd/internal/labtest"
	httpsvc "labd/services/http"
)

// TestStartPageKeysTranslated fails when the start page or the status
// page uses a text the French catalog lacks.
func TestStartPageKeysTranslated(t *testing.T) {
	keyRE := regexp.MustCompile(`\{\{-?\s*\(?(?:t|th) ("(?:[^"\\]|\\.)*")`)
	n := 0
	err := fs.WalkDir(os.DirFS("templates"), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile("templates/" + p)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			k, _ := strconv.Unquote(m[1])
			n++
			if !i18n.Has(k) {
				t.Errorf("%s: %q is not in the French catalog", p, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("only %d keys found: the pattern no longer matches", n)
	}
	for _, k := range []string{"1xx informational", "2xx success", "3xx redirection", "4xx client error", "5xx server error",
		"nc HOST PORT, then EHLO me", "nc HOST PORT, then USER alice", "nc HOST PORT, then a LOGIN alice alice", "tftp HOST PORT, then get README.txt"} {
		if !i18n.Has(k) {
			t.Errorf("%q is not in the French catalog", k)
		}
	}
}

func TestStartPageInBothLanguages(t *testing.T) {
	for _, tc := range []struct {
		lang                 string
		index, status, other []string
	}{
		{"en", []string{`<html lang="en">`, "Pages to explore"}, []string{"4xx client error", "Back to the start page"}, []string{"Pages à explorer"}},
		{"fr", []string{`<html lang="fr">`, "Pages à explorer", "Le domaine de courriel et DNS est", "Clients de messagerie", "Appareils Apple\u00a0:"},
			[]string{"4xx (erreur du client)", "Retour à la page d&#39;accueil"}, []string{"Pages to explore"}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			cfg := labtest.Config(t)
			cfg.Server.Language = tc.lang
			d := labtest.Deps(t, cfg)
			svc, err := httpsvc.New(d)
			if err != nil {
				t.Fatal(err)
			}
			eps := labtest.Start(t, svc)
			d.Endpoints.Add(eps...)
			base := "http://" + labtest.Addr(t, eps, "http", "tcp")
			get := func(path string) string {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			index, status := get("/"), get("/status/404")
			for _, w := range tc.index {
				if !strings.Contains(index, w) {
					t.Errorf("start page: %q missing", w)
				}
			}
			for _, w := range tc.status {
				if !strings.Contains(status, w) {
					t.Errorf("status page: %q missing:\n%s", w, status)
				}
			}
			for _, w := range tc.other {
				if strings.Contains(index, w) {
					t.Errorf("start page: %q shown in %s", w, tc.lang)
				}
			}
		})
	}
}

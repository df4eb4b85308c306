package dashboard_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"labd/config"
)

// TestEveryPageInBothLanguages renders every page of the dashboard with
// server.language en and fr: each renders, says its language in <html
// lang>, and the French one shows French (the catalog's completeness is
// TestEveryKeyTranslated's job).
func TestEveryPageInBothLanguages(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) {
			e := startWith(t, func(c *config.Config) { c.Server.Language = lang })
			mine := strconv.FormatUint(basicAuthSession(t, e, "alice", "alice"), 10)
			s := recordedSMTP(e.deps.Sessions)
			id := strconv.FormatUint(s.ID(), 10)
			admin := e.client(t).admin()
			student := e.client(t)
			if r, body := student.do("POST", "/labd/login", url.Values{"user": {"alice"}, "password": {"alice"}, "next": {"/labd/me"}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("student login: %d %.300s", r.StatusCode, body)
			}
			anon := e.client(t)
			type page struct {
				c      *client
				path   string
				status int
				en, fr string
			}
			pages := []page{
				{anon, "/labd/login", 200, "Instructor login", "Connexion enseignant"},
				{anon, "/labd/login?next=/labd/me", 200, "Log in to see your sessions", "Connectez-vous pour voir vos sessions"},
				{anon, "/labd/board", 200, "Recent sessions", "Sessions récentes"},
				// The words app.js writes on live updates.
				{anon, "/labd/board", 200, `data-open="open" data-closed="closed"`, `data-open="ouverte" data-closed="fermée"`},
				{admin, "/labd/", 200, "Activity per protocol", "Activité par protocole"},
				{admin, "/labd/sessions", 200, "Class capture", "Capture de la classe"},
				{admin, "/labd/sessions/" + id, 200, "Open in Wireshark", "Ouvrir dans Wireshark"},
				{admin, "/labd/sessions/" + id + "/flow", 200, "Download SVG (for slides)", "Télécharger en SVG (pour les diapositives)"},
				{admin, "/labd/sessions/" + id + "/flow", 200, ">server submission<", ">serveur submission<"},
				{admin, "/labd/mail?user=alice", 200, "Mailboxes of alice", "Boîtes aux lettres de l&#39;utilisateur alice"},
				{admin, "/labd/mail?user=alice", 200, `"num">0 B<`, `"num">0 o<`},
				{admin, "/labd/mail?user=alice&box=INBOX", 200, "Flags", "Indicateurs"},
				{admin, "/labd/files?user=alice", 200, "Recent transfers", "Transferts récents"},
				{admin, "/labd/dns?zones=0", 200, "Recent queries", "Requêtes récentes"},
				{admin, "/labd/users", 200, "Reset a password", "Réinitialiser un mot de passe"},
				{admin, "/labd/progress", 200, "CSV for the gradebook", "CSV pour le carnet de notes"},
				{admin, "/labd/faults", 200, "Faults for the lesson", "Pannes pour la séance"},
				{admin, "/labd/sessions/999999", 404, "Not Found", "Introuvable"},
				{admin, "/labd/mail?user=alice&box=Nope", 404, "No such mailbox.", "Boîte aux lettres inconnue."},
				{student, "/labd/me", 200, "My sessions", "Mes sessions"},
				// The exercises' own French (title_fr in the built-in pack).
				{student, "/labd/me", 200, "Basic authentication, 401 then 200", "Authentification Basic, 401 puis 200"},
				{admin, "/labd/progress", 200, `title="Basic authentication, 401 then 200"`, `title="Authentification Basic, 401 puis 200"`},
			}
			pages = append(pages, page{student, "/labd/me/sessions/" + mine, 200, "All my sessions", "Toutes mes sessions"})
			for _, p := range pages {
				resp, body := p.c.get(p.path)
				if resp.StatusCode != p.status {
					t.Errorf("%s: status %d, want %d: %.300s", p.path, resp.StatusCode, p.status, body)
					continue
				}
				want, other := p.en, p.fr
				if lang == "fr" {
					want, other = p.fr, p.en
				}
				if !strings.Contains(body, `<html lang="`+lang+`">`) {
					t.Errorf("%s: no <html lang=%q>", p.path, lang)
				}
				if !strings.Contains(body, want) {
					t.Errorf("%s: %q missing", p.path, want)
				}
				if strings.Contains(body, other) {
					t.Errorf("%s: %q shown in %s", p.path, other, lang)
				}
			}
			// The credentials sheet, after creating a user.
			resp, body := admin.do("POST", "/labd/users", url.Values{"csrf": {admin.csrf()}, "name": {"carol"}, "password": {"pw-carol-1"}})
			if resp.StatusCode != 200 {
				t.Fatalf("create user: %d %.300s", resp.StatusCode, body)
			}
			want := map[string]string{"en": "Same login for SSH", "fr": "Le même identifiant pour SSH"}[lang]
			if !strings.Contains(body, want) {
				t.Errorf("sheet: %q missing", want)
			}
			if lang == "fr" {
				// French typography: a no-break space before the colon.
				if !strings.Contains(body, "Mot de passe\u00a0:") {
					t.Error("sheet: no no-break space before the colon")
				}
				// Wrong password: the message of the handler is French too.
				_, body := e.client(t).do("POST", "/labd/login", url.Values{"user": {"teacher"}, "password": {"wrong"}})
				if !strings.Contains(body, "Nom d&#39;utilisateur ou mot de passe incorrect.") {
					t.Errorf("login error not in French: %.400s", body)
				}
			}
		})
	}
}

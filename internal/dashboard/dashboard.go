// Package dashboard is the instructor's live web view of a labd host, served
// by the HTTP service under /labd/: services and session counts, a live
// session table, transcripts (secrets masked unless unmasked), mailboxes
// with their MIME structure, homes and pub/, DNS queries, user management
// with roster import, and a public read-only class board.
//
// Pages are rendered on the server with html/template (which escapes the
// attacker-controlled text of transcripts); the live parts are a little
// JavaScript reading a server-sent event feed of the session registry. Only
// users with the admin flag log in; sessions are random tokens held in the
// Dashboard value, every state-changing form carries a per-session CSRF
// token.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"labd/config"
	"labd/internal/authguard"
	"labd/internal/i18n"
	"labd/internal/service"
	"labd/internal/store"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/labd/"

const cookieName = "labd_session"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Dashboard is the handler mounted at /labd/.
type Dashboard struct {
	deps service.Deps
	cfg  config.Dashboard
	log  *slog.Logger
	mux  *http.ServeMux
	// tmpl parses each page's template at its first use: parsing all 16
	// at startup took a fifth of labd's startup CPU (about 5 ms) for
	// pages a lesson may never open. TestEveryTemplateParses parses
	// them all.
	tmpl map[string]func() (*template.Template, error)
	// tr speaks server.language in the pages and their messages.
	tr *i18n.Printer
	// FailDelay slows down wrong logins (tests shrink it).
	FailDelay time.Duration

	mu       sync.Mutex
	sessions map[string]*login

	ctx    context.Context // cancelled by Close: ends the event streams
	cancel context.CancelFunc
}

type login struct {
	user    string
	csrf    string
	expires time.Time
}

// New builds the dashboard from the shared dependencies.
func New(deps service.Deps) (*Dashboard, error) {
	d := &Dashboard{
		deps:      deps,
		cfg:       deps.Config.Dashboard,
		log:       deps.Logger,
		mux:       http.NewServeMux(),
		sessions:  map[string]*login{},
		FailDelay: time.Second,
		tr:        i18n.New(deps.Config.Server.Lang()),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.cfg.SessionTTL <= 0 {
		d.cfg.SessionTTL = config.Duration(12 * time.Hour)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.parseTemplates()
	d.routes()
	d.followUsers()
	return d, nil
}

// Close ends the live feeds (event streams), so that the HTTP server's
// shutdown does not wait for them.
func (d *Dashboard) Close() { d.cancel() }

func (d *Dashboard) routes() {
	static, _ := fs.Sub(staticFS, "static")
	d.mux.Handle("GET /labd/static/", http.StripPrefix("/labd/static/", http.FileServerFS(static)))
	d.mux.HandleFunc("GET /labd/login", d.loginPage)
	d.mux.HandleFunc("POST /labd/login", d.loginPost)
	d.mux.HandleFunc("POST /labd/logout", d.admin(d.logout))
	d.mux.HandleFunc("GET /labd/board", d.board)
	d.mux.HandleFunc("GET /labd/api/board", d.boardJSON)

	d.mux.HandleFunc("GET /labd/{$}", d.admin(d.overview))
	d.mux.HandleFunc("GET /labd/sessions", d.admin(d.sessionsPage))
	d.mux.HandleFunc("GET /labd/sessions/{id}", d.admin(d.transcriptPage))
	d.mux.HandleFunc("GET /labd/sessions/{id}/text", d.admin(d.transcriptText))
	d.captureRoutes()
	d.nodeRoutes()
	d.meRoutes()
	d.mux.HandleFunc("GET /labd/mail", d.admin(d.mailPage))
	d.mux.HandleFunc("GET /labd/files", d.admin(d.filesPage))
	d.mux.HandleFunc("GET /labd/dns", d.admin(d.dnsPage))
	d.mux.HandleFunc("GET /labd/users", d.admin(d.usersPage))
	d.mux.HandleFunc("POST /labd/users", d.admin(d.csrf(d.usersCreate)))
	d.mux.HandleFunc("POST /labd/users/password", d.admin(d.csrf(d.usersPassword)))
	d.mux.HandleFunc("POST /labd/users/import", d.admin(d.csrf(d.usersImport)))
	d.mux.HandleFunc("GET /labd/progress", d.admin(d.progressPage))
	d.mux.HandleFunc("GET /labd/progress.csv", d.admin(d.progressCSV))
	d.mux.HandleFunc("POST /labd/progress/assign", d.admin(d.csrf(d.progressAssign)))
	d.mux.HandleFunc("GET /labd/faults", d.admin(d.faultsPage))
	d.mux.HandleFunc("POST /labd/faults", d.admin(d.csrf(d.faultsSet)))
	d.mux.HandleFunc("POST /labd/faults/clear", d.admin(d.csrf(d.faultsClear)))

	d.mux.HandleFunc("GET /labd/api/sessions", d.admin(d.sessionsJSON))
	d.mux.HandleFunc("GET /labd/api/sessions/{id}", d.admin(d.transcriptJSON))
	d.mux.HandleFunc("GET /labd/api/summary", d.admin(d.summaryJSON))
	d.mux.HandleFunc("GET /labd/api/events", d.admin(d.events))
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script anywhere: a script that slipped through escaping
	// would still not run.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	// A window opened by a student page gets no handle on the dashboard's,
	// and no other origin may embed its responses.
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	d.markOwn(r)
	if guarded(r) {
		if ok, why := sameOrigin(r); !ok {
			d.log.Warn("dashboard refused a cross-origin request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "evidence", why)
			http.Error(w, "403 forbidden: this request did not come from a dashboard page (cross-origin requests are refused)", http.StatusForbidden)
			return
		}
	}
	d.mux.ServeHTTP(w, r)
}

// ownAttr marks the HTTP sessions that carry dashboard requests, so that
// the instructor's own polling and event streams do not fill the tables.
const ownAttr = "dashboard"

// markOwn finds the registry session of the request's connection (by its
// two addresses) and marks it as the dashboard's.
func (d *Dashboard) markOwn(r *http.Request) {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || d.deps.Sessions == nil {
		return
	}
	la := local.String()
	for _, in := range d.deps.Sessions.Live() {
		if in.Remote == r.RemoteAddr && in.Local == la {
			if in.Attrs[ownAttr] == "" {
				if s, ok := d.deps.Sessions.Get(in.ID); ok {
					s.SetAttr(ownAttr, "1")
				}
			}
			return
		}
	}
}

type ctxKey struct{}

// current returns the login of an authenticated request.
func current(r *http.Request) *login {
	l, _ := r.Context().Value(ctxKey{}).(*login)
	return l
}

// lookup finds a valid session from the request's cookie.
func (d *Dashboard) lookup(r *http.Request) *login {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.sessions[c.Value]
	if !ok {
		return nil
	}
	if time.Now().After(l.expires) {
		delete(d.sessions, c.Value)
		return nil
	}
	cp := *l
	return &cp
}

// admin requires a logged-in admin: pages redirect to the login form,
// feeds answer 401.
func (d *Dashboard) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := d.lookup(r)
		if l != nil {
			// A user deleted or demoted since the login loses access at once.
			if u, err := d.deps.Store.User(r.Context(), l.user); err != nil || !u.Admin {
				d.forget(r)
				l = nil
			}
		}
		if l == nil {
			if strings.HasPrefix(r.URL.Path, "/labd/api/") || r.Method != http.MethodGet {
				http.Error(w, "401 unauthorized: log in at /labd/login as an admin user", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/labd/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, l)))
	}
}

// csrf refuses a POST whose csrf field is not the session's token.
func (d *Dashboard) csrf(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := current(r)
		tok := r.PostFormValue("csrf")
		if l == nil || tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(l.csrf)) != 1 {
			http.Error(w, "403 forbidden: missing or wrong CSRF token (reload the page and try again)", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	d.render(w, r, http.StatusOK, "login", map[string]any{"Next": next, "Student": isMe(next)})
}

func (d *Dashboard) loginPost(w http.ResponseWriter, r *http.Request) {
	name, pass := r.PostFormValue("user"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	// The shared guard spaces guesses per account and address (it never
	// locks the teacher out): see internal/authguard.
	u, err := d.deps.Guard.Authenticate(r.Context(), "http-admin", r.RemoteAddr, name, pass)
	if errors.Is(err, authguard.ErrThrottled) {
		d.render(w, r, http.StatusTooManyRequests, "login", map[string]any{"Next": next, "User": name, "Student": isMe(next),
			"Error": d.tr.T("Too many failed logins for this account from your address: wait a few seconds and try again.")})
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		// Not a wrong password: the user database did not answer.
		d.log.Warn("dashboard login not checked: user database unavailable", "user", name, "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Retry-After", "5")
		d.render(w, r, http.StatusServiceUnavailable, "login", map[string]any{"Next": next, "User": name, "Student": isMe(next),
			"Error": d.tr.T("The user database is unavailable right now: your password was not checked. Try again in a few seconds.")})
		return
	}
	// Students log in for their own page only (me.go).
	if err != nil || (!u.Admin && !isMe(next)) {
		msg := d.tr.T("Wrong user name or password.")
		status := http.StatusUnauthorized
		if err == nil {
			msg = d.tr.T("User %s is not an administrator. Create one with: labd user add teacher --admin. Students: your own sessions are at /labd/me.", u.Name)
			status = http.StatusForbidden
		}
		d.log.Warn("dashboard login refused", "user", name, "remote", r.RemoteAddr, "admin", err == nil)
		select {
		case <-time.After(d.FailDelay):
		case <-r.Context().Done():
		}
		d.render(w, r, status, "login", map[string]any{"Next": next, "Error": msg, "User": name, "Student": isMe(next)})
		return
	}
	tok := token()
	ttl := d.cfg.SessionTTL.D()
	d.mu.Lock()
	now := time.Now()
	for k, l := range d.sessions {
		if now.After(l.expires) {
			delete(d.sessions, k)
		}
	}
	d.sessions[tok] = &login{user: u.Name, csrf: token(), expires: now.Add(ttl)}
	d.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: tok, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(ttl.Seconds()),
	})
	d.log.Info("dashboard login", "user", u.Name, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// forget ends the session of the request's cookie.
func (d *Dashboard) forget(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		d.mu.Lock()
		delete(d.sessions, c.Value)
		d.mu.Unlock()
	}
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	d.endLogin(w, r, current(r).csrf, "/labd/login")
}

// endLogin ends the login of the request (its form must carry the login's
// CSRF token) and redirects to the given page.
func (d *Dashboard) endLogin(w http.ResponseWriter, r *http.Request, csrf, then string) {
	if tok := r.PostFormValue("csrf"); subtle.ConstantTimeCompare([]byte(tok), []byte(csrf)) != 1 {
		http.Error(w, "403 forbidden: missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	d.forget(r)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
	http.Redirect(w, r, then, http.StatusSeeOther)
}

package dashboard

import (
	"labd/internal/exercises"

	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"labd/internal/capture"
	"labd/internal/sessions"
)

// /labd/me is each student's own page: the sessions they logged in on,
// with transcripts (their own secrets shown: they typed them), ladder
// diagrams and Wireshark downloads. Students log in through the same form
// as admins, with next=/labd/me; the admin pages keep refusing them. An
// admin sees every session here.

const mePrefix = "/labd/me"

func isMe(next string) bool { return next == mePrefix || strings.HasPrefix(next, mePrefix+"/") }

type meKey struct{}

// viewer is who looks at a /labd/me page.
type viewer struct {
	user, csrf string
	admin      bool
}

func viewerOf(r *http.Request) *viewer {
	v, _ := r.Context().Value(meKey{}).(*viewer)
	return v
}

func (d *Dashboard) meRoutes() {
	d.mux.HandleFunc("GET /labd/me", d.member(d.mePage))
	d.mux.HandleFunc("GET /labd/me/sessions/{id}", d.member(d.meSession))
	d.mux.HandleFunc("GET /labd/me/sessions/{id}/flow.svg", d.member(d.meFlowSVG))
	d.mux.HandleFunc("GET /labd/me/sessions/{id}/capture.pcapng", d.member(d.meCapture))
	d.mux.HandleFunc("GET /labd/me/sessions/{id}/keylog.txt", d.member(d.meKeyLog))
	d.mux.HandleFunc("POST /labd/me/logout", d.member(d.meLogout))
}

// member requires any logged-in user whose account still exists.
func (d *Dashboard) member(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := d.lookup(r)
		var v *viewer
		if l != nil {
			if u, err := d.deps.Store.User(r.Context(), l.user); err == nil {
				v = &viewer{user: u.Name, csrf: l.csrf, admin: u.Admin}
			} else {
				d.forget(r)
			}
		}
		if v == nil {
			if r.Method != http.MethodGet {
				http.Error(w, "401 unauthorized: log in at /labd/login?next=/labd/me", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/labd/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		ctx := context.WithValue(r.Context(), meKey{}, v)
		if v.admin {
			ctx = context.WithValue(ctx, ctxKey{}, l)
		}
		next(w, r.WithContext(ctx))
	}
}

// mine says whether the viewer may see a session: their own, or any for an
// admin. The dashboard's own connections are nobody's business here.
func (v *viewer) mine(in sessions.Info) bool {
	return v.admin || (in.User == v.user && in.Attrs[ownAttr] == "")
}

// span is a time a user was logged in from an address.
type span struct {
	ip         string
	start, end time.Time // end zero: still open
}

// logins returns when and from where the viewer was logged in, for
// dashboard.students_see_by_address (nil when that is off).
func (d *Dashboard) logins(v *viewer, all []sessions.Info) []span {
	if !d.cfg.StudentsSeeByAddress || v.admin {
		return nil
	}
	var out []span
	for _, in := range all {
		if in.User == v.user {
			sp := span{ip: sessions.Host(in.Remote), start: in.Start}
			if !in.Open {
				sp.end = in.End
			}
			out = append(out, sp)
		}
	}
	return out
}

// visible: the viewer's own sessions, and a session without a login that
// started from an address while the viewer was logged in from it.
func (v *viewer) visible(in sessions.Info, logins []span) bool {
	if v.mine(in) {
		return true
	}
	if in.User != "" || in.Attrs[ownAttr] != "" {
		return false
	}
	ip := sessions.Host(in.Remote)
	for _, sp := range logins {
		if sp.ip == ip && !in.Start.Before(sp.start) && (sp.end.IsZero() || !in.Start.After(sp.end)) {
			return true
		}
	}
	return false
}

// meSessionOf returns the session of the path if the viewer may see it;
// otherwise it answers 404, the same as for a session that does not exist,
// so that a student cannot probe other students' session numbers.
func (d *Dashboard) meSessionOf(w http.ResponseWriter, r *http.Request) (*sessions.Session, *viewer, bool) {
	v := viewerOf(r)
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	s, ok := d.deps.Sessions.Get(id)
	if err != nil || !ok || !v.visible(s.Info(), d.logins(v, d.deps.Sessions.List())) {
		d.fail(w, r, http.StatusNotFound, "No such session among yours (finished sessions are kept up to sessions.history).")
		return nil, nil, false
	}
	return s, v, true
}

// showSecrets: a student sees their own secrets; an admin follows
// dashboard.allow_unmasked, as on the admin pages.
func (d *Dashboard) showSecrets(v *viewer) bool { return !v.admin || d.cfg.Unmask() }

func (d *Dashboard) mePage(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	var rows []Row
	all := d.deps.Sessions.List()
	logins := d.logins(v, all)
	for _, in := range all {
		if v.visible(in, logins) && in.Attrs[ownAttr] == "" {
			rows = append(rows, rowOf(in))
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID > rows[j].ID })
	if len(rows) > 500 {
		rows = rows[:500]
	}
	d.render(w, r, http.StatusOK, "me", map[string]any{"Viewer": v.user, "Admin": v.admin, "Rows": rows, "Checklist": d.checklist(v)})
}

// checkItem is one exercise on a student's own checklist.
type checkItem struct {
	ID, Title, Description string
	Status, Missing        string
	Session                uint64
}

// checklist is the student's own progress on every exercise, with what is
// missing for a started one (an admin's own page has none).
func (d *Dashboard) checklist(v *viewer) []checkItem {
	t := d.deps.Exercises
	if t == nil || v.admin {
		return nil
	}
	t.Wait()
	mine := map[string]exercises.Entry{}
	for _, e := range t.Snapshot().Entries {
		if e.User == v.user {
			mine[e.Exercise] = e
		}
	}
	var out []checkItem
	for _, ex := range d.localizedAll(t.Exercises()) {
		it := checkItem{ID: ex.ID, Title: ex.Title, Description: ex.Description, Status: "not-started"}
		if e, ok := mine[ex.ID]; ok {
			it.Status, it.Missing, it.Session = e.Status, e.MissingIn(d.tr.Lang()), e.Session
		}
		out = append(out, it)
	}
	return out
}

func (d *Dashboard) meSession(w http.ResponseWriter, r *http.Request) {
	s, v, ok := d.meSessionOf(w, r)
	if !ok {
		return
	}
	info, entries := s.Info(), s.Transcript()
	show := d.showSecrets(v)
	f := FlowOf(info, entries, show)
	d.render(w, r, http.StatusOK, "me_session", map[string]any{
		"Info": info, "Row": rowOf(info), "Lines": Transcript(info, entries, show),
		"SVG": template.HTML(f.In(d.tr).SVG()), "KeyLog": len(s.KeyLog()) > 0, "Captures": show,
	})
}

func (d *Dashboard) meFlowSVG(w http.ResponseWriter, r *http.Request) {
	s, v, ok := d.meSessionOf(w, r)
	if !ok {
		return
	}
	f := FlowOf(s.Info(), s.Transcript(), d.showSecrets(v))
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + f.In(d.tr).SVG()))
}

func (d *Dashboard) meCapture(w http.ResponseWriter, r *http.Request) {
	s, v, ok := d.meSessionOf(w, r)
	if !ok {
		return
	}
	if !d.showSecrets(v) {
		d.secretsAllowed(w, r)
		return
	}
	in := s.Info()
	var ss []capture.Session
	logins := d.logins(v, d.deps.Sessions.List())
	for _, c := range capture.WithData(d.deps.Sessions, in.ID) {
		if v.visible(c.Info, logins) {
			ss = append(ss, c)
		}
	}
	d.writeCapture(w, r, fmt.Sprintf("labd-session-%d-%s.pcapng", in.ID, in.Proto), ss)
}

func (d *Dashboard) meKeyLog(w http.ResponseWriter, r *http.Request) {
	_, v, ok := d.meSessionOf(w, r)
	if !ok {
		return
	}
	if !d.showSecrets(v) {
		d.secretsAllowed(w, r)
		return
	}
	d.sessionKeyLog(w, r)
}

func (d *Dashboard) meLogout(w http.ResponseWriter, r *http.Request) {
	d.endLogin(w, r, viewerOf(r).csrf, "/labd/login?next="+url.QueryEscape(mePrefix))
}

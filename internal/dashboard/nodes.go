package dashboard

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"labd/internal/sessionlog"
	"labd/internal/sessions"
	"labd/internal/store"
)

// Several labd hosts on one PostgreSQL database (docs/scale-out.md): the
// sessions page lists this host's sessions from its registry (live) and
// the other hosts' from the shared session log, each with its node; the
// transcript of another host's session is the copy its node wrote to the
// database when the session ended.

// OwnAttr is the session attribute that marks the dashboard's own
// connections (their transcripts carry the teacher's cookie).
const OwnAttr = ownAttr

// sharedLog is the store's shared session log (*store.DB on PostgreSQL).
type sharedLog interface {
	SharedSessions() bool
	ListSessions(ctx context.Context, q store.SessionQuery) ([]store.SessionSummary, error)
	SessionOf(ctx context.Context, node string, run int64, id uint64) (store.SessionSummary, error)
}

// sessionLog returns the shared session log, or nil with one host.
func (d *Dashboard) sessionLog() sharedLog {
	l, ok := d.deps.Store.(sharedLog)
	if !ok || !l.SharedSessions() {
		return nil
	}
	return l
}

// node is this host's name when several share the database, else "".
func (d *Dashboard) node() string {
	if d.sessionLog() == nil {
		return ""
	}
	return d.deps.Config.Server.Node
}

func (d *Dashboard) nodeRoutes() {
	d.mux.HandleFunc("GET /labd/nodes/{node}/sessions/{id}", d.admin(d.nodeTranscriptPage))
}

// allRecent is recent with the other hosts' sessions, newest first, at most
// n (0: 500 from the log).
func (d *Dashboard) allRecent(r *http.Request, f filter, n int) []Row {
	rows := d.recent(f, n)
	l := d.sessionLog()
	if l == nil {
		return rows
	}
	own := d.node()
	for i := range rows {
		rows[i].Node = own
	}
	logged, err := l.ListSessions(r.Context(), store.SessionQuery{Proto: f.Proto, User: f.User, ExceptNode: own, Limit: n})
	if err != nil {
		d.log.Warn("dashboard: the other hosts' sessions", "err", err)
		return rows
	}
	for _, x := range logged {
		if in := sessionlog.Info(x); f.match(in) {
			rows = append(rows, rowOf(in))
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Start.After(rows[j].Start) })
	if n > 0 && len(rows) > n {
		rows = rows[:n]
	}
	return rows
}

func (d *Dashboard) nodeTranscriptPage(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	if node == d.node() {
		http.Redirect(w, r, "/labd/sessions/"+r.PathValue("id"), http.StatusSeeOther)
		return
	}
	l := d.sessionLog()
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if l == nil || err != nil {
		d.fail(w, r, http.StatusNotFound, "No such session.")
		return
	}
	run, _ := strconv.ParseInt(r.URL.Query().Get("run"), 10, 64)
	x, err := l.SessionOf(r.Context(), node, run, id)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "No such session.")
		return
	}
	if err != nil {
		d.log.Warn("dashboard: a session of another host", "node", node, "id", id, "err", err)
		d.fail(w, r, http.StatusServiceUnavailable, "The database is unavailable; try again in a moment.")
		return
	}
	info := sessionlog.Info(x)
	entries, err := sessionlog.Transcript(x)
	if err != nil {
		d.log.Warn("dashboard: unreadable transcript in the session log", "node", node, "id", id, "err", err)
	}
	d.renderTranscript(w, r, info, entries, map[string]any{"Remote": true, "Kept": x.Transcript != nil})
}

// localNode marks a session of this host's registry with its node, when
// the page lists several hosts'.
func localNode(in sessions.Info, node string) sessions.Info {
	in.Node = node
	return in
}

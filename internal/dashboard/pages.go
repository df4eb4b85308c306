package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"labd/internal/roster"
	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
)

// --- overview and counts ---

type protoCount struct {
	Proto string `json:"proto"`
	Live  int    `json:"live"`
	Today int    `json:"today"`
}

func (d *Dashboard) counts() []protoCount {
	live := map[string]int{}
	for _, in := range d.deps.Sessions.Live() {
		if in.Attrs[ownAttr] == "" {
			live[in.Proto]++
		}
	}
	today := d.deps.Sessions.Today()
	names := map[string]bool{}
	for _, ep := range d.deps.Endpoints.List() {
		names[ep.Service] = true
	}
	for p := range live {
		names[p] = true
	}
	for p := range today {
		names[p] = true
	}
	out := make([]protoCount, 0, len(names))
	for p := range names {
		out = append(out, protoCount{Proto: p, Live: live[p], Today: today[p]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Proto < out[j].Proto })
	return out
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	eps := d.deps.Endpoints.List()
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].Service < eps[j].Service })
	d.render(w, r, http.StatusOK, "overview", map[string]any{
		"Endpoints": eps,
		"Counts":    d.counts(),
		"Host":      d.deps.Config.FQDN(),
	})
}

func (d *Dashboard) summaryJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"counts": d.counts(), "endpoints": d.deps.Endpoints.List()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

// --- sessions ---

// filter selects sessions. The dashboard's own connections (attribute
// dashboard=1) are left out unless All is set.
type filter struct {
	Proto, User string
	All         bool
}

func filterOf(r *http.Request) filter {
	q := r.URL.Query()
	return filter{Proto: strings.TrimSpace(q.Get("proto")), User: store.NormalizeUser(q.Get("user")), All: q.Get("all") == "1"}
}

func (f filter) match(in sessions.Info) bool {
	return (f.Proto == "" || in.Proto == f.Proto) && (f.User == "" || in.User == f.User) &&
		(f.All || in.Attrs[ownAttr] == "")
}

// event says which event a subscriber gets for a session: kind if it
// matches, "hide" for one that matched until it was found to be the
// dashboard's own, "" for none.
func (f filter) event(kind string, in sessions.Info) string {
	if f.match(in) {
		return kind
	}
	if own := f; !f.All {
		own.All = true
		if own.match(in) {
			return "hide"
		}
	}
	return ""
}

// Row is a session as the live table shows it.
type Row struct {
	sessions.Info
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms,omitempty"`
	State   string `json:"state"`
}

func rowOf(in sessions.Info) Row {
	r := Row{Info: in, StartMs: in.Start.UnixMilli(), State: "open"}
	if !in.Open {
		r.EndMs = in.End.UnixMilli()
		r.State = "closed"
		if in.Result != "" {
			r.State = in.Result
		}
	}
	return r
}

// recent returns matching sessions, newest first, at most n (0: all).
func (d *Dashboard) recent(f filter, n int, protos ...string) []Row {
	all := d.deps.Sessions.List()
	var out []Row
	for i := len(all) - 1; i >= 0; i-- {
		in := all[i]
		if !f.match(in) || (len(protos) > 0 && !slices.Contains(protos, in.Proto)) {
			continue
		}
		out = append(out, rowOf(in))
		if n > 0 && len(out) == n {
			break
		}
	}
	return out
}

func (d *Dashboard) protocols() []string {
	seen := map[string]bool{}
	for _, c := range d.counts() {
		seen[c.Proto] = true
	}
	return slices.Sorted(func(yield func(string) bool) {
		for p := range seen {
			if !yield(p) {
				return
			}
		}
	})
}

func (d *Dashboard) sessionsPage(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r)
	d.render(w, r, http.StatusOK, "sessions", map[string]any{
		"Filter": f, "Rows": d.recent(f, 500), "Protocols": d.protocols(),
	})
}

func (d *Dashboard) sessionsJSON(w http.ResponseWriter, r *http.Request) {
	rows := d.recent(filterOf(r), 0)
	if rows == nil {
		rows = []Row{}
	}
	writeJSON(w, map[string]any{"sessions": rows})
}

// events is the server-sent event feed of the session registry: open,
// update and close events as they happen (filtered like the table), and
// every two seconds an update of each live session's byte counts.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream outlives the server's write timeout
	ch, cancel := d.deps.Sessions.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(kind string, in sessions.Info) error {
		b, _ := json.Marshal(rowOf(in))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, b); err != nil {
			return err
		}
		return nil
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n: labd session events\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if kind := f.event(ev.Kind, ev.Info); kind != "" && send(kind, ev.Info) != nil {
				return
			}
		case <-tick.C:
			for _, in := range d.deps.Sessions.Live() {
				if kind := f.event("update", in); kind != "" && send(kind, in) != nil {
					return
				}
			}
			if _, err := fmt.Fprint(w, "event: tick\ndata: {}\n\n"); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// --- transcript ---

func (d *Dashboard) session(w http.ResponseWriter, r *http.Request) (*sessions.Session, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		d.fail(w, r, http.StatusNotFound, "No such session.")
		return nil, false
	}
	s, ok := d.deps.Sessions.Get(id)
	if !ok {
		d.fail(w, r, http.StatusNotFound, "No such session: it may have left the history (sessions.history).")
		return nil, false
	}
	return s, true
}

func (d *Dashboard) unmask(r *http.Request) bool {
	return r.URL.Query().Get("unmask") == "1" && d.cfg.Unmask()
}

func (d *Dashboard) transcriptPage(w http.ResponseWriter, r *http.Request) {
	s, ok := d.session(w, r)
	if !ok {
		return
	}
	info := s.Info()
	unmask := d.unmask(r)
	lines := Transcript(info, s.Transcript(), unmask)
	secrets := 0
	for _, l := range lines {
		if l.Secret != "" {
			secrets++
		}
	}
	d.render(w, r, http.StatusOK, "transcript", map[string]any{
		"Info": info, "Row": rowOf(info), "Lines": lines, "Unmask": unmask,
		"CanUnmask": d.cfg.Unmask(), "Secrets": secrets,
	})
}

func (d *Dashboard) transcriptJSON(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	s, ok := d.deps.Sessions.Get(id)
	if err != nil || !ok {
		http.Error(w, "404 no such session", http.StatusNotFound)
		return
	}
	info := s.Info()
	lines := Transcript(info, s.Transcript(), d.unmask(r))
	type jline struct {
		Line
		Clock string `json:"clock"`
	}
	out := make([]jline, len(lines))
	for i, l := range lines {
		if l.Masked {
			l.Secret = mask // never send a masked secret to the browser
		}
		out[i] = jline{l, l.Time.Format("15:04:05.000")}
	}
	writeJSON(w, map[string]any{"session": rowOf(info), "lines": out})
}

func (d *Dashboard) transcriptText(w http.ResponseWriter, r *http.Request) {
	s, ok := d.session(w, r)
	if !ok {
		return
	}
	info := s.Info()
	text := PlainText(info, Transcript(info, s.Transcript(), d.unmask(r)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="labd-session-%d-%s.txt"`, info.ID, info.Proto))
	_, _ = w.Write([]byte(text))
}

// --- files ---

var transferProtos = []string{"ftp", "ftps", "ftp-data", "sftp", "ssh", "scp", "tftp"}

type fileEntry struct {
	Name    string
	Path    string
	Dir     bool
	Size    int64
	ModTime time.Time
}

func (d *Dashboard) filesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	users, _ := d.deps.Store.ListUsers(r.Context())
	data := map[string]any{"Users": users, "Transfers": d.recent(filter{}, 100, transferProtos...)}
	user, area := store.NormalizeUser(q.Get("user")), q.Get("area")
	var root string
	switch {
	case area == "pub":
		root = d.deps.Layout.Pub()
		data["Where"] = "pub/"
	case user != "":
		if store.CheckUserName(user) != nil {
			d.fail(w, r, http.StatusBadRequest, "No such user.")
			return
		}
		if _, err := d.deps.Store.User(r.Context(), user); err != nil {
			d.fail(w, r, http.StatusNotFound, "No such user.")
			return
		}
		root = d.deps.Layout.Home(user)
		data["Where"] = "home of " + user
		data["User"] = user
	default:
		d.render(w, r, http.StatusOK, "files", data)
		return
	}
	rel := q.Get("path")
	if rel == "" || rel == "/" {
		rel = "."
	}
	rel = strings.TrimPrefix(rel, "/")
	if !fs.ValidPath(rel) {
		d.fail(w, r, http.StatusBadRequest, "That path leaves the directory: the dashboard only browses inside a home or pub/.")
		return
	}
	rt, err := os.OpenRoot(root)
	if err != nil {
		d.fail(w, r, http.StatusNotFound, "This directory does not exist yet.")
		return
	}
	defer rt.Close()
	fsys := rt.FS()
	st, err := fs.Stat(fsys, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			d.fail(w, r, http.StatusNotFound, "No such file or directory.")
		} else {
			d.fail(w, r, http.StatusForbidden, "Cannot read this path (outside the directory, or not permitted).")
		}
		return
	}
	if !st.IsDir() {
		f, err := fsys.Open(rel)
		if err != nil {
			d.fail(w, r, http.StatusForbidden, "Cannot read this file.")
			return
		}
		defer f.Close()
		// Served as a download, never rendered: users upload HTML.
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(rel)))
		w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		_, _ = copyN(w, f, st.Size())
		return
	}
	ents, err := fs.ReadDir(fsys, rel)
	if err != nil {
		d.fail(w, r, http.StatusForbidden, "Cannot list this directory.")
		return
	}
	var list []fileEntry
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		list = append(list, fileEntry{Name: e.Name(), Path: path.Join(rel, e.Name()), Dir: e.IsDir(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	data["Entries"] = list
	data["Path"] = rel
	if rel != "." {
		data["Parent"] = path.Dir(rel)
	}
	data["Area"] = area
	d.render(w, r, http.StatusOK, "files", data)
}

// --- DNS ---

func (d *Dashboard) dnsPage(w http.ResponseWriter, r *http.Request) {
	var rows []Row
	for _, row := range d.recent(filter{}, 300) {
		if strings.HasPrefix(row.Proto, "dns") {
			rows = append(rows, row)
		}
	}
	data := map[string]any{"Rows": rows}
	if r.URL.Query().Get("zones") != "0" {
		data["Zones"], data["ZoneError"] = d.zones()
	}
	d.render(w, r, http.StatusOK, "dns", data)
}

// --- class board ---

func (d *Dashboard) board(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.Board() {
		http.NotFound(w, r)
		return
	}
	d.render(w, r, http.StatusOK, "board", map[string]any{"Counts": d.counts(), "Rows": boardRows(d.recent(filter{}, 30)), "Faults": d.activeFaults()})
}

// boardRow is what students may see of a session: no transcript, no attrs
// (they may carry file names or queries), no result text.
type boardRow struct {
	ID      uint64 `json:"id"`
	Proto   string `json:"proto"`
	Remote  string `json:"remote"`
	User    string `json:"user,omitempty"`
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms,omitempty"`
	Open    bool   `json:"open"`
	Start   time.Time
}

func boardRows(rows []Row) []boardRow {
	out := make([]boardRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, boardRow{ID: r.ID, Proto: r.Proto, Remote: r.Remote, User: r.User, StartMs: r.StartMs, EndMs: r.EndMs, Open: r.Open, Start: r.Info.Start})
	}
	return out
}

func (d *Dashboard) boardJSON(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.Board() {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, map[string]any{"counts": d.counts(), "recent": boardRows(d.recent(filter{}, 30))})
}

// --- users ---

func (d *Dashboard) usersPage(w http.ResponseWriter, r *http.Request) {
	d.renderUsers(w, r, http.StatusOK, nil)
}

func (d *Dashboard) renderUsers(w http.ResponseWriter, r *http.Request, status int, problems []string) {
	users, err := d.deps.Store.ListUsers(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	d.render(w, r, status, "users", map[string]any{"Users": users, "Problems": problems})
}

type credential struct {
	Name, Password string
	Admin          bool
}

func (d *Dashboard) sheet(w http.ResponseWriter, r *http.Request, title string, creds []credential) {
	d.render(w, r, http.StatusOK, "sheet", map[string]any{
		"Title": title, "Creds": creds, "Host": d.deps.Config.FQDN(), "Domain": d.deps.Config.Server.Domain,
	})
}

func (d *Dashboard) usersCreate(w http.ResponseWriter, r *http.Request) {
	name := store.NormalizeUser(r.PostFormValue("name"))
	pw := r.PostFormValue("password")
	admin := r.PostFormValue("admin") != ""
	if pw == "" {
		pw = roster.GenPassword()
	}
	if err := d.deps.Store.CreateUser(r.Context(), name, pw, admin); err != nil {
		d.renderUsers(w, r, http.StatusBadRequest, []string{err.Error()})
		return
	}
	if err := d.deps.Layout.EnsureHome(name); err != nil {
		d.renderUsers(w, r, http.StatusInternalServerError, []string{err.Error()})
		return
	}
	d.log.Info("dashboard: user created", "user", name, "admin", admin, "by", current(r).user)
	d.sheet(w, r, d.tr.T("New user"), []credential{{name, pw, admin}})
}

func (d *Dashboard) usersPassword(w http.ResponseWriter, r *http.Request) {
	name := store.NormalizeUser(r.PostFormValue("name"))
	pw := r.PostFormValue("password")
	if pw == "" {
		pw = roster.GenPassword()
	}
	if err := d.deps.Store.SetPassword(r.Context(), name, pw); err != nil {
		msg := err.Error()
		if errors.Is(err, store.ErrNotFound) {
			msg = "No such user: " + name
		}
		d.renderUsers(w, r, http.StatusBadRequest, []string{msg})
		return
	}
	u, _ := d.deps.Store.User(r.Context(), name)
	d.log.Info("dashboard: password reset", "user", name, "by", current(r).user)
	d.sheet(w, r, d.tr.T("New password"), []credential{{name, pw, u.Admin}})
}

func (d *Dashboard) usersImport(w http.ResponseWriter, r *http.Request) {
	csv := r.PostFormValue("roster")
	todo, problems := roster.ParseIn(strings.NewReader(csv), "roster", func(name string) bool {
		_, err := d.deps.Store.User(r.Context(), name)
		return err == nil
	}, d.tr)
	if len(problems) > 0 {
		d.renderUsers(w, r, http.StatusBadRequest, append([]string{d.tr.T("Nothing imported:")}, problems...))
		return
	}
	if len(todo) == 0 {
		d.renderUsers(w, r, http.StatusBadRequest, []string{"The roster is empty: paste lines of name[,password[,admin]]."})
		return
	}
	var creds []credential
	for _, rl := range todo {
		if err := d.deps.Store.CreateUser(r.Context(), rl.Name, rl.Password, rl.Admin); err != nil {
			msg := fmt.Sprintf("roster: line %d: %v (users above this line were created)", rl.Line, err)
			d.renderUsers(w, r, http.StatusBadRequest, []string{msg})
			return
		}
		if err := d.deps.Layout.EnsureHome(rl.Name); err != nil {
			d.renderUsers(w, r, http.StatusInternalServerError, []string{err.Error()})
			return
		}
		creds = append(creds, credential{rl.Name, rl.Password, rl.Admin})
	}
	d.log.Info("dashboard: roster imported", "users", len(creds), "by", current(r).user)
	d.sheet(w, r, d.tr.T("Credentials of %d imported users", len(creds)), creds)
}

var _ = service.Endpoint{}

func copyN(w http.ResponseWriter, f fs.File, n int64) (int64, error) {
	buf := make([]byte, 32<<10)
	var done int64
	for done < n {
		k, err := f.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return done, werr
			}
			done += int64(k)
		}
		if err != nil {
			break
		}
	}
	return done, nil
}

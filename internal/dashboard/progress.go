package dashboard

import (
	"encoding/csv"
	"net/http"
	"sort"
	"strconv"
	"time"

	"labd/internal/exercises"
)

// progressCell is one student's state on one exercise.
type progressCell struct {
	Status  string
	Session uint64
	Time    time.Time
	Missing string
}

type progressRow struct {
	User  string
	Cells []progressCell
	Done  int
}

// progressGrid builds students × exercises from the tracker: every
// non-admin user has a row, whether or not they started.
func (d *Dashboard) progressGrid(r *http.Request) ([]exercises.Exercise, []progressRow, exercises.Progress, error) {
	t := d.deps.Exercises
	ex := t.Exercises()
	snap := t.Snapshot()
	users, err := d.deps.Store.ListUsers(r.Context())
	if err != nil {
		return nil, nil, snap, err
	}
	idx := map[string]int{}
	for i, e := range ex {
		idx[e.ID] = i
	}
	rows := map[string]*progressRow{}
	var names []string
	for _, u := range users {
		if u.Admin {
			continue
		}
		rows[u.Name] = &progressRow{User: u.Name, Cells: make([]progressCell, len(ex))}
		names = append(names, u.Name)
	}
	for _, e := range snap.Entries {
		row, ok := rows[e.User]
		i, known := idx[e.Exercise]
		if !ok || !known {
			continue
		}
		row.Cells[i] = progressCell{Status: e.Status, Session: e.Session, Time: e.Time, Missing: e.MissingIn(d.tr.Lang())}
		if e.Status == "done" {
			row.Done++
		}
	}
	sort.Strings(names)
	out := make([]progressRow, 0, len(names))
	for _, n := range names {
		out = append(out, *rows[n])
	}
	return ex, out, snap, nil
}

func (d *Dashboard) progressPage(w http.ResponseWriter, r *http.Request) {
	if d.deps.Exercises == nil {
		d.fail(w, r, http.StatusNotFound, "No exercises are declared: set exercises.builtin: true or exercises.file in labd.yaml (docs/exercises.md).")
		return
	}
	d.deps.Exercises.Wait()
	ex, rows, snap, err := d.progressGrid(r)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	var students []string
	for _, row := range rows {
		students = append(students, row.User)
	}
	d.render(w, r, http.StatusOK, "progress", map[string]any{
		"Exercises": d.localizedAll(ex), "Rows": rows, "Unattributed": snap.Unattributed, "Students": students,
	})
}

// progressCSV is the gradebook export: user, exercise, status, time,
// session.
func (d *Dashboard) progressCSV(w http.ResponseWriter, r *http.Request) {
	if d.deps.Exercises == nil {
		http.NotFound(w, r)
		return
	}
	d.deps.Exercises.Wait()
	ex, rows, _, err := d.progressGrid(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="labd-progress.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"user", "exercise", "status", "time", "session"})
	for _, row := range rows {
		for i, c := range row.Cells {
			status, when, sess := c.Status, "", ""
			if status == "" {
				status = "not-started"
			} else {
				when, sess = c.Time.Format(time.RFC3339), strconv.FormatUint(c.Session, 10)
			}
			cw.Write([]string{row.User, ex[i].ID, status, when, sess})
		}
	}
	cw.Flush()
}

// progressAssign gives an unattributed session to a student.
func (d *Dashboard) progressAssign(w http.ResponseWriter, r *http.Request) {
	if d.deps.Exercises == nil {
		http.NotFound(w, r)
		return
	}
	id, _ := strconv.ParseUint(r.PostFormValue("session"), 10, 64)
	if !d.deps.Exercises.Assign(id, r.PostFormValue("exercise"), r.PostFormValue("user")) {
		d.fail(w, r, http.StatusBadRequest, "That session is no longer unattributed, or the user does not exist.")
		return
	}
	d.log.Info("exercise assigned", "session", id, "exercise", r.PostFormValue("exercise"), "user", r.PostFormValue("user"), "by", current(r).user)
	http.Redirect(w, r, "/labd/progress", http.StatusSeeOther)
}

package exercises

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"labd/internal/i18n"
	"labd/internal/sessions"
)

// Entry is one student's state on one exercise.
type Entry struct {
	User     string    `json:"user"`
	Exercise string    `json:"exercise"`
	Status   string    `json:"status"` // done, started
	Time     time.Time `json:"time"`
	Session  uint64    `json:"session"`
	Missing  string    `json:"missing,omitempty"`
	// MissingFR is Missing in French (empty in files written before it).
	MissingFR string `json:"missing_fr,omitempty"`
}

// MissingIn is what is missing in lang ("fr" or English).
func (e Entry) MissingIn(lang string) string {
	return Text{EN: e.Missing, FR: e.MissingFR}.In(lang)
}

// Unattributed is a session that did an exercise for nobody labd could
// name (no login, no identifying detail, a shared address).
type Unattributed struct {
	Exercise string    `json:"exercise"`
	Session  uint64    `json:"session"`
	Remote   string    `json:"remote"`
	Time     time.Time `json:"time"`
}

// Progress is the class's progress, kept in a file so that it survives
// restarts and the eviction of transcripts.
type Progress struct {
	Entries      []Entry        `json:"entries"`
	Unattributed []Unattributed `json:"unattributed"`
}

// Tracker evaluates finished sessions against the exercises and keeps the
// progress. It is fed by a lossless registry observer and works in a
// goroutine of its own, so that session handling does not wait for it.
type Tracker struct {
	ex    []Exercise
	reg   *sessions.Registry
	file  string
	users func(string) bool

	mu    sync.Mutex
	prog  map[[2]string]Entry
	unatt []Unattributed
	queue []uint64
	wake  chan struct{}
	done  chan struct{}
	// exited is closed when the goroutine has drained the queue and ended.
	exited chan struct{}
	// OnChange is called after progress changed (the dashboard's live view).
	OnChange func()
	idle     sync.Cond
	busy     bool
}

// NewTracker starts evaluating reg's sessions against ex. file keeps the
// progress (empty: memory only); users says whether a name is a user.
func NewTracker(ex []Exercise, reg *sessions.Registry, file string, users func(string) bool) *Tracker {
	t := &Tracker{ex: ex, reg: reg, file: file, users: users, prog: map[[2]string]Entry{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	t.idle.L = &t.mu
	t.load()
	reg.Observe(func(e sessions.Event) {
		if e.Kind != "close" {
			return
		}
		t.mu.Lock()
		t.queue = append(t.queue, e.Info.ID)
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
	})
	go t.run()
	return t
}

// Close evaluates what is queued, saves, and stops the tracker: the
// sessions that ended during a shutdown still count, and nothing writes
// into the data directory afterwards.
func (t *Tracker) Close() {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
	<-t.exited
}

func (t *Tracker) run() {
	defer close(t.exited)
	for {
		stopping := false
		select {
		case <-t.done:
			stopping = true
		case <-t.wake:
		}
		for {
			t.mu.Lock()
			if len(t.queue) == 0 {
				t.busy = false
				t.idle.Broadcast()
				t.mu.Unlock()
				break
			}
			id := t.queue[0]
			t.queue = t.queue[1:]
			t.busy = true
			t.mu.Unlock()
			if t.evaluate(id) {
				t.save()
				if t.OnChange != nil {
					t.OnChange()
				}
			}
		}
		if stopping {
			return
		}
	}
}

// Wait returns once every finished session so far is evaluated (tests,
// the CLI's consistent snapshot).
func (t *Tracker) Wait() {
	t.mu.Lock()
	for len(t.queue) > 0 || t.busy {
		t.idle.Wait()
	}
	t.mu.Unlock()
}

func (t *Tracker) record(id uint64) (Record, bool) {
	s, ok := t.reg.Get(id)
	if !ok {
		return Record{}, false
	}
	return Record{Info: s.Info(), Transcript: s.Transcript()}, true
}

// evaluate runs every exercise on one finished session; it says whether
// the progress changed.
func (t *Tracker) evaluate(id uint64) bool {
	r, ok := t.record(id)
	if !ok {
		return false
	}
	changed := false
	exs := t.Exercises()
	// One snapshot of the registry for every attribution and "also" look-up
	// of this session, not one per exercise and candidate.
	var all []sessions.Info
	snapshot := func() []sessions.Info {
		if all == nil {
			all = t.reg.List()
		}
		return all
	}
	for i := range exs {
		e := &exs[i]
		out, missing := e.When.match(&r)
		if out == NotStarted {
			continue
		}
		user := e.attribute(&r, t.users)
		if user == "" {
			user = t.byAddress(r.Info, snapshot())
		}
		if user == "" {
			if out == Done {
				t.mu.Lock()
				t.unatt = append(t.unatt, Unattributed{Exercise: e.ID, Session: id, Remote: r.Info.Remote, Time: r.Info.End})
				t.mu.Unlock()
				changed = true
			}
			continue
		}
		if out == Done {
			if m := t.alsoMissing(e, user, snapshot()); m.EN != "" {
				out, missing = Started, m
			}
		}
		changed = t.set(Entry{User: user, Exercise: e.ID, Status: out.String(), Time: r.Info.End, Session: id, Missing: missing.EN, MissingFR: missing.FR}) || changed
		// A session may complete another exercise's "also" part.
		changed = t.recheck(user, snapshot()) || changed
	}
	return changed
}

// set records an entry; done is never downgraded.
func (t *Tracker) set(e Entry) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [2]string{e.User, e.Exercise}
	old, ok := t.prog[k]
	if ok && (old.Status == "done" || old.Status == e.Status && old.Missing == e.Missing) {
		return false
	}
	t.prog[k] = e
	return true
}

// recheck upgrades a student's started exercises whose main session is
// done once the other sessions they need have come.
func (t *Tracker) recheck(user string, all []sessions.Info) bool {
	t.mu.Lock()
	var started []Entry
	for _, e := range t.prog {
		if e.User == user && e.Status == "started" {
			started = append(started, e)
		}
	}
	t.mu.Unlock()
	changed := false
	exs := t.Exercises()
	for _, en := range started {
		for i := range exs {
			e := &exs[i]
			if e.ID != en.Exercise || len(e.Also) == 0 {
				continue
			}
			r, ok := t.record(en.Session)
			if !ok {
				continue
			}
			if out, _ := e.When.match(&r); out != Done {
				continue
			}
			if t.alsoMissing(e, user, all).EN == "" {
				en.Status, en.Missing, en.MissingFR = "done", "", ""
				t.mu.Lock()
				t.prog[[2]string{user, e.ID}] = en
				t.mu.Unlock()
				changed = true
			}
		}
	}
	return changed
}

// alsoMissing says which of the exercise's other sessions the student has
// not done yet, or nothing.
func (t *Tracker) alsoMissing(e *Exercise, user string, all []sessions.Info) Text {
	for j := range e.Also {
		c := &e.Also[j]
		found := false
		for _, in := range all {
			if in.Open || len(c.Protocol) > 0 && !slices.Contains(c.Protocol, in.Proto) {
				continue
			}
			r, ok := t.record(in.ID)
			if !ok {
				continue
			}
			if out, _ := c.match(&r); out != Done {
				continue
			}
			u := e.attribute(&r, t.users)
			if u == "" {
				u = t.byAddress(r.Info, all)
			}
			if u == user {
				found = true
				break
			}
		}
		if !found {
			return Text{EN: otherPart(trEN, c), FR: otherPart(trFR, c)}
		}
	}
	return Text{}
}

// otherPart says which other session an exercise still needs.
func otherPart(tr *i18n.Printer, c *Condition) string {
	return tr.T("the other part is missing: a %s session%s", joinProtos(tr, c.Protocol), describe(tr, c))
}

func joinProtos(tr *i18n.Printer, p []string) string {
	if len(p) == 0 {
		return tr.T("matching")
	}
	out := p[0]
	for _, x := range p[1:] {
		out += "/" + x
	}
	return out
}

func describe(tr *i18n.Printer, c *Condition) string {
	s := ""
	if c.Transport != "" {
		s += tr.T(" over %s", c.Transport)
	}
	for k, v := range c.Facts {
		s += tr.T(" with %s %s", k, v)
	}
	if len(c.Steps) > 0 {
		s += tr.T(" with %s", c.Steps[0].Client)
	}
	return s
}

// byAddress names the student when exactly one user was logged in from
// the session's address around its time; behind a shared address with
// several students logged in, it never guesses.
func (t *Tracker) byAddress(in sessions.Info, all []sessions.Info) string {
	ip := sessions.Host(in.Remote)
	const slack = 2 * time.Minute
	users := map[string]bool{}
	for _, o := range all {
		if o.User == "" || sessions.Host(o.Remote) != ip {
			continue
		}
		end := o.End
		if o.Open || end.IsZero() {
			end = time.Now()
		}
		if o.Start.Before(in.End.Add(slack)) && end.After(in.Start.Add(-slack)) {
			users[o.User] = true
		}
	}
	if len(users) != 1 {
		return ""
	}
	for u := range users {
		return u
	}
	return ""
}

// Snapshot returns the progress, entries sorted by user then exercise.
func (t *Tracker) Snapshot() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := Progress{Unattributed: append([]Unattributed(nil), t.unatt...)}
	for _, e := range t.prog {
		p.Entries = append(p.Entries, e)
	}
	sort.Slice(p.Entries, func(i, j int) bool {
		a, b := p.Entries[i], p.Entries[j]
		if a.User != b.User {
			return a.User < b.User
		}
		return a.Exercise < b.Exercise
	})
	return p
}

// Exercises returns the exercises in their declared order.
func (t *Tracker) Exercises() []Exercise {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ex
}

// SetExercises replaces the exercises (a reload after the teacher edited
// them) and evaluates the sessions still recorded again; what was done
// stays done.
func (t *Tracker) SetExercises(ex []Exercise) {
	t.mu.Lock()
	t.ex = ex
	t.mu.Unlock()
	t.Recompute()
}

// Assign gives an unattributed session's exercise to a student (the
// teacher's one click).
func (t *Tracker) Assign(session uint64, exercise, user string) bool {
	t.mu.Lock()
	idx := -1
	for i, u := range t.unatt {
		if u.Session == session && u.Exercise == exercise {
			idx = i
			break
		}
	}
	if idx < 0 || !t.users(user) {
		t.mu.Unlock()
		return false
	}
	u := t.unatt[idx]
	t.unatt = append(t.unatt[:idx], t.unatt[idx+1:]...)
	t.prog[[2]string{user, exercise}] = Entry{User: user, Exercise: exercise, Status: "done", Time: u.Time, Session: session}
	t.mu.Unlock()
	t.save()
	if t.OnChange != nil {
		t.OnChange()
	}
	return true
}

// Recompute evaluates every session still recorded again (after the
// exercises changed); what was done stays done.
func (t *Tracker) Recompute() {
	for _, in := range t.reg.List() {
		if !in.Open {
			t.mu.Lock()
			t.queue = append(t.queue, in.ID)
			t.mu.Unlock()
		}
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *Tracker) load() {
	if t.file == "" {
		return
	}
	b, err := os.ReadFile(t.file)
	if err != nil {
		return
	}
	var p Progress
	if json.Unmarshal(b, &p) != nil {
		return
	}
	for _, e := range p.Entries {
		t.prog[[2]string{e.User, e.Exercise}] = e
	}
	t.unatt = p.Unattributed
}

func (t *Tracker) save() {
	if t.file == "" {
		return
	}
	b, _ := json.MarshalIndent(t.Snapshot(), "", " ")
	tmp := t.file + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, t.file)
	}
}

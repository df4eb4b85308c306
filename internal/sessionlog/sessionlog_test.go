package sessionlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"labd/internal/sessionlog"
	"labd/internal/sessions"
	"labd/internal/store"
)

// fakeLog keeps what is written; with hold set, writes wait for it.
type fakeLog struct {
	mu      sync.Mutex
	batches [][]store.SessionSummary
	ended   []int64
	hold    chan struct{}
}

func (f *fakeLog) RecordSessions(ctx context.Context, list []store.SessionSummary) error {
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	f.batches = append(f.batches, append([]store.SessionSummary(nil), list...))
	f.mu.Unlock()
	return nil
}

func (f *fakeLog) EndRuns(ctx context.Context, node string, run int64) error {
	f.mu.Lock()
	f.ended = append(f.ended, run)
	f.mu.Unlock()
	return nil
}

func (f *fakeLog) PruneSessions(context.Context, string, time.Time, int, int) error { return nil }

func (f *fakeLog) all() []store.SessionSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.SessionSummary
	for _, b := range f.batches {
		out = append(out, b...)
	}
	return out
}

func TestRecorderWritesSummariesAndTranscripts(t *testing.T) {
	reg := sessions.New(sessions.Options{})
	fl := &fakeLog{}
	r := sessionlog.Start(reg, fl, sessionlog.Options{Node: "room-a", Interval: 10 * time.Millisecond})
	s := reg.Open("smtp", "tcp", "127.0.0.1:25", "127.0.0.1:4000")
	s.Record(sessions.FromServer, []byte("220 hello\r\n"), false)
	s.SetUser("alice")
	s.Close("ok")
	r.Close()
	all := fl.all()
	if len(all) != 3 || all[0].State != "open" || all[2].State != "ok" || all[2].User != "alice" || all[2].Node != "room-a" || all[2].Run != r.Run() {
		t.Fatalf("summaries: %+v", all)
	}
	if len(fl.ended) != 1 || fl.ended[0] != r.Run() {
		t.Errorf("earlier runs not ended at start: %v", fl.ended)
	}
	entries, err := sessionlog.Transcript(all[2])
	if err != nil || len(entries) == 0 || string(entries[0].Data) != "220 hello\r\n" {
		t.Errorf("transcript copied at the end: %+v %v", entries, err)
	}
	if all[0].Transcript != nil {
		t.Error("a transcript copied while the session was open")
	}
	// A private session (the dashboard's own) keeps its transcript home.
	fl2 := &fakeLog{}
	r2 := sessionlog.Start(reg, fl2, sessionlog.Options{Node: "room-a", Private: func(in sessions.Info) bool { return in.Attrs["dashboard"] != "" }})
	p := reg.Open("http", "tcp", "127.0.0.1:80", "127.0.0.1:4001")
	p.Record(sessions.FromClient, []byte("GET /labd/ HTTP/1.1\r\nCookie: labd_session=secret\r\n\r\n"), false)
	p.SetAttr("dashboard", "1")
	p.Close("ok")
	r2.Close()
	if got := fl2.all(); len(got) != 2 || got[1].Transcript != nil || got[1].Attrs["dashboard"] != "1" {
		t.Errorf("private session: %+v", got)
	}
	in := sessionlog.Info(all[2])
	if in.Node != "room-a" || in.Open || in.Result != "ok" || in.User != "alice" {
		t.Errorf("Info: %+v", in)
	}
}

// A database that does not keep up never slows a session: events beyond
// the buffer are dropped and counted.
func TestRecorderDropsWhenFull(t *testing.T) {
	reg := sessions.New(sessions.Options{})
	fl := &fakeLog{hold: make(chan struct{})}
	r := sessionlog.Start(reg, fl, sessionlog.Options{Node: "room-a", Buffer: 4, Batch: 1, Interval: time.Hour})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			reg.Open("dns", "udp", "127.0.0.1:53", "127.0.0.1:4000").Close("ok")
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("sessions blocked by a stuck session log")
	}
	if d := r.Dropped(); d < 90 {
		t.Errorf("dropped %d of 100 events with a stuck writer and a buffer of 4", d)
	}
	close(fl.hold)
	r.Close()
	if w := r.Written(); w == 0 || w+r.Dropped() != 100 {
		t.Errorf("written %d + dropped %d, want 100", w, r.Dropped())
	}
}

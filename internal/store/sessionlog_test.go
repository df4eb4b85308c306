package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
	"labd/internal/store"
)

func TestSessionLog(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	t0 := time.Now().Truncate(time.Millisecond)
	open := store.SessionSummary{Node: "room-a", Run: 1, ID: 7, Proto: "smtp", Transport: "tcp", Local: "127.0.0.1:25",
		Remote: "127.0.0.1:40000", Start: t0, State: "open"}
	if err := a.RecordSessions(ctx, []store.SessionSummary{open}); err != nil {
		t.Fatal(err)
	}
	closed := open
	closed.User, closed.End, closed.BytesIn, closed.BytesOut, closed.State = "alice", t0.Add(time.Second), 10, 20, "ok"
	closed.Transcript = []byte(`[{"dir":0}]`)
	closed.Attrs = map[string]string{"auth": "PLAIN"}
	other := store.SessionSummary{Node: "room-b", Run: 2, ID: 7, Proto: "imap", Transport: "tcp", Start: t0.Add(time.Millisecond), State: "open"}
	// The open and close of one session in one batch: the close wins.
	if err := b.RecordSessions(ctx, []store.SessionSummary{other, open, closed}); err != nil {
		t.Fatal(err)
	}
	list, err := b.ListSessions(ctx, store.SessionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Node != "room-b" || list[1].State != "ok" || list[1].User != "alice" ||
		!list[1].End.Equal(closed.End) || list[1].BytesOut != 20 || list[1].Transcript != nil {
		t.Fatalf("list: %+v", list)
	}
	if l, _ := b.ListSessions(ctx, store.SessionQuery{ExceptNode: "room-b"}); len(l) != 1 || l[0].Node != "room-a" {
		t.Errorf("except room-b: %+v", l)
	}
	if l, _ := b.ListSessions(ctx, store.SessionQuery{User: "alice", Proto: "smtp"}); len(l) != 1 {
		t.Errorf("alice's smtp: %+v", l)
	}
	got, err := b.SessionOf(ctx, "room-a", 0, 7)
	if err != nil || string(got.Transcript) != `[{"dir":0}]` || got.Attrs["auth"] != "PLAIN" {
		t.Errorf("SessionOf: %+v %v", got, err)
	}
	// A later summary without transcript keeps the stored one.
	again := closed
	again.Transcript = nil
	a.RecordSessions(ctx, []store.SessionSummary{again})
	if got, _ := b.SessionOf(ctx, "room-a", 1, 7); got.Transcript == nil {
		t.Error("transcript lost by a summary without one")
	}
	if _, err := b.SessionOf(ctx, "room-a", 0, 8); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing session: %v", err)
	}
	// room-b restarts (run 3): its run 2's open session is lost.
	if err := b.EndRuns(ctx, "room-b", 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.SessionOf(ctx, "room-b", 2, 7); got.State != "lost" || got.End.IsZero() {
		t.Errorf("session of a dead run: %+v", got)
	}

	// Pruning: by age, by count, transcripts beyond their own count.
	var many []store.SessionSummary
	for i := range 10 {
		many = append(many, store.SessionSummary{Node: "room-c", Run: 1, ID: uint64(i + 1), Proto: "dns", Transport: "udp",
			Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i) * time.Second), State: "ok", Transcript: []byte("[]")})
	}
	if err := a.RecordSessions(ctx, many); err != nil {
		t.Fatal(err)
	}
	if err := a.PruneSessions(ctx, "room-c", t0.Add(2*time.Second), 6, 3); err != nil {
		t.Fatal(err)
	}
	l, _ := a.ListSessions(ctx, store.SessionQuery{Proto: "dns"})
	var ids, withTranscript []uint64
	for _, x := range l {
		ids = append(ids, x.ID)
		if y, _ := a.SessionOf(ctx, "room-c", 1, x.ID); y.Transcript != nil {
			withTranscript = append(withTranscript, x.ID)
		}
	}
	if fmt.Sprint(ids) != "[10 9 8 7 6 5]" || fmt.Sprint(withTranscript) != "[10 9 8]" {
		t.Errorf("after pruning: sessions %v, with transcript %v", ids, withTranscript)
	}
	if l, _ := a.ListSessions(ctx, store.SessionQuery{Proto: "smtp"}); len(l) != 1 {
		t.Errorf("pruning room-c touched room-a: %+v", l)
	}
}

// SQLite keeps no shared session log: one host, its registry is the whole
// picture.
func TestSessionLogNotOnSQLite(t *testing.T) {
	s, err := store.OpenSQLite(filepath.Join(t.TempDir(), "labd.db"), store.Options{BcryptCost: labtest.BcryptCost})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.SharedSessions() {
		t.Error("SQLite says it shares sessions")
	}
	if err := s.RecordSessions(context.Background(), []store.SessionSummary{{Node: "a"}}); !errors.Is(err, store.ErrNoSessionLog) {
		t.Errorf("RecordSessions on SQLite: %v", err)
	}
}

// A database of schema version 1 (before the session log) is migrated
// with its users kept.
func TestPostgresMigratesFromVersion1(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := store.MigratePostgres(ctx, db, store.PostgresMigrations[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO users(name, hash, created) VALUES ('alice', 'x', 0)`); err != nil {
		t.Fatal(err)
	}
	s := openPostgres(t, dsn)
	if _, err := s.User(ctx, "alice"); err != nil {
		t.Errorf("user of version 1: %v", err)
	}
	var v int
	db.QueryRowContext(ctx, `SELECT version FROM labd_schema`).Scan(&v)
	if v != len(store.PostgresMigrations) {
		t.Errorf("version %d, want %d", v, len(store.PostgresMigrations))
	}
	if err := s.RecordSessions(ctx, []store.SessionSummary{{Node: "a", Run: 1, ID: 1, Start: time.Now(), State: "open"}}); err != nil {
		t.Errorf("session log after migration: %v", err)
	}
}

// BenchmarkRecordSessions writes the shared session log as the recorder
// does: batches of 256 closed sessions with a 2 KiB transcript each.
// Reported as summaries/s: what one host can log before its queue drops.
func BenchmarkRecordSessions(b *testing.B) {
	s := openPostgres(b, labtest.Postgres(b))
	ctx := context.Background()
	transcript := []byte(`[{"dir":0,"data":"` + strings.Repeat("A", 2048) + `"}]`)
	batch := make([]store.SessionSummary, 256)
	id := uint64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := time.Now()
		for j := range batch {
			id++
			batch[j] = store.SessionSummary{Node: "bench", Run: 1, ID: id, Proto: "dns", Transport: "udp",
				Local: "127.0.0.1:53", Remote: "127.0.0.1:40000", Start: now, End: now, State: "ok", Transcript: transcript}
		}
		if err := s.RecordSessions(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "summaries/s")
}

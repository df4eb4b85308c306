package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"labd/internal/labtest"
	"labd/internal/store"
)

// eventLog collects a subscriber's events.
type eventLog struct {
	mu  sync.Mutex
	got []store.Event
}

// add keeps message events only: the mailboxes a user creation made may
// reach a host after its test subscribed, or before.
func (l *eventLog) add(e store.Event) {
	switch e.Kind {
	case store.MessageAdded, store.FlagsChanged, store.MessageExpunged:
		l.mu.Lock()
		l.got = append(l.got, e)
		l.mu.Unlock()
	}
}

// wait returns once n events arrived, or fails after a deadline far longer
// than a loaded machine needs (the design target is under a second).
func (l *eventLog) wait(t *testing.T, n int) []store.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.mu.Lock()
		got := append([]store.Event(nil), l.got...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events after 20 s, want %d: %+v", len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(evs []store.Event) string {
	var b []string
	for _, e := range evs {
		b = append(b, fmt.Sprintf("%s:%s:%s:%d", e.Kind, e.User, e.Mailbox, e.UID))
	}
	return strings.Join(b, " ")
}

// Two stores on one database are two labd hosts: each sees the other's
// changes, in commit order, without Origin (that is a host's own affair).
func TestPostgresEventsAcrossHosts(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	a := openPostgres(t, dsn)
	b := openPostgres(t, dsn)
	if err := a.CreateUser(ctx, "alice", "alice", false); err != nil {
		t.Fatal(err)
	}
	// A user added on A logs in on B at once: users are not cached.
	if _, err := b.Authenticate(ctx, "test", "alice", "alice"); err != nil {
		t.Fatalf("user added on A, login on B: %v", err)
	}
	var onB eventLog
	defer b.Subscribe(onB.add)()
	if err := a.Deliver(store.WithOrigin(ctx, "smtp-a"), []string{"alice"}, []byte("Subject: hi\r\n\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	in := mustMailbox(t, b, "alice", "INBOX")
	if _, err := b.StoreFlags(ctx, in.ID, []uint32{1}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	got := onB.wait(t, 3)
	if d := describe(got); d != `added:alice:INBOX:1 flags:alice:INBOX:1 expunged:alice:INBOX:1` {
		t.Errorf("events on B: %s", d)
	}
	if got[0].Origin != nil {
		t.Errorf("A's Origin crossed to B: %v", got[0].Origin)
	}
}

// A listener cut off from the database catches up on what it missed when
// it reconnects: NOTIFY queues nothing for a disconnected listener, the
// event log does.
func TestPostgresListenerCatchesUpAfterReconnect(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	a := openPostgres(t, dsn)
	b := openPostgres(t, dsn)
	if err := a.CreateUser(ctx, "alice", "alice", false); err != nil {
		t.Fatal(err)
	}
	var onB eventLog
	defer b.Subscribe(onB.add)()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for i := 0; i < 5; i++ {
		// Cut every listener, then deliver while they reconnect.
		if _, err := c.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'labd-listen' AND datname = current_database()`); err != nil {
			t.Fatal(err)
		}
		if err := a.Deliver(ctx, []string{"alice"}, []byte("x\r\n"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	got := onB.wait(t, 5)
	for i, e := range got {
		if e.Kind != store.MessageAdded || e.UID != uint32(i+1) {
			t.Errorf("event %d on B: %+v, want UID %d added", i, e, i+1)
		}
	}
}

// A database written by a newer labd is refused, as with SQLite.
func TestPostgresRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	openPostgres(t, dsn).Close()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `UPDATE labd_schema SET version = 999`); err != nil {
		t.Fatal(err)
	}
	_, err = store.OpenPostgres(ctx, dsn, store.PostgresOptions{})
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("open of a newer database: %v", err)
	}
}

// An unreachable database is a clear error at once, not a hang.
func TestPostgresUnreachable(t *testing.T) {
	start := time.Now()
	_, err := store.OpenPostgres(context.Background(), "host=127.0.0.1 port=1 user=labd dbname=labd sslmode=disable connect_timeout=5",
		store.PostgresOptions{ConnectTimeout: 10 * time.Second})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("open of an unreachable database: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
}

// The database restarting under two hosts: writes while it is down fail
// (the protocols answer temporary errors), writes after it is back
// succeed without a labd restart, and the other host's subscribers see
// every committed change, including those it missed while its listener
// reconnected.
func TestPostgresRestart(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	a := openPostgres(t, dsn)
	b := openPostgres(t, dsn)
	if err := a.CreateUser(ctx, "alice", "alice", false); err != nil {
		t.Fatal(err)
	}
	var onB eventLog
	defer b.Subscribe(onB.add)()
	if err := a.Deliver(ctx, []string{"alice"}, []byte("before\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	onB.wait(t, 1)
	inbox := mustMailbox(t, a, "alice", "INBOX")
	labtest.RestartPostgres(t, func() {
		if err := a.Deliver(ctx, []string{"alice"}, []byte("while down\r\n"), time.Time{}); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("a delivery while the database was down: %v, want ErrUnavailable", err)
		}
		// Reads too: a login or a FETCH while the database is down is a
		// temporary failure, not "wrong password" or "no such message".
		reads := map[string]error{}
		_, reads["Authenticate"] = a.Authenticate(ctx, "imap", "alice", "alice")
		_, reads["User"] = a.User(ctx, "alice")
		_, reads["ListUsers"] = a.ListUsers(ctx)
		_, reads["Keys"] = a.Keys(ctx, "alice")
		_, reads["Mailboxes"] = a.Mailboxes(ctx, "alice")
		_, reads["Mailbox"] = a.Mailbox(ctx, "alice", "INBOX")
		_, reads["Messages"] = a.Messages(ctx, inbox.ID)
		_, reads["Body"] = a.Body(ctx, inbox.ID, 1)
		for name, err := range reads {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s while the database was down: %v, want ErrUnavailable", name, err)
			}
		}
	})
	// The pool's connections died with the server; the first writes may
	// still meet one. Within a generous deadline, writes work again.
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		err := a.Deliver(ctx, []string{"alice"}, []byte("after\r\n"), time.Time{})
		if err == nil {
			t.Logf("first delivery after the restart succeeded at attempt %d", attempt)
			break
		}
		t.Logf("delivery after the restart, attempt %d: %v", attempt, err)
		if time.Now().After(deadline) {
			t.Fatalf("writes still failing 30 s after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := onB.wait(t, 2)
	if len(got) != 2 || got[1].UID != 2 {
		t.Errorf("events on B across the restart: %s", describe(got))
	}
	in := mustMailbox(t, b, "alice", "INBOX")
	if in.Messages != 2 || in.UIDNext != 3 {
		t.Errorf("INBOX after the restart: %+v", in)
	}
}

// A labd host killed with SIGKILL in the middle of deliveries loses none
// that it acknowledged: a child process delivers in a loop to PostgreSQL
// and prints each UID once Deliver returned; it is killed mid-stream.
func TestPostgresAcknowledgedSurvivesKill9(t *testing.T) {
	if dsn := os.Getenv("LABD_STORE_PG_CHILD"); dsn != "" {
		s, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		for {
			_, uid, err := s.Append(context.Background(), "alice", "INBOX", []byte("Subject: x\r\n\r\nbody\r\n"), nil, time.Time{})
			if err != nil {
				fmt.Println("err:", err)
				os.Exit(1)
			}
			fmt.Printf("ack %d\n", uid)
		}
	}
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	s := openPostgres(t, dsn)
	if err := s.CreateUser(ctx, "alice", "alice", false); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresAcknowledgedSurvivesKill9$")
	cmd.Env = append(os.Environ(), "LABD_STORE_PG_CHILD="+dsn)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := map[uint32]bool{}
	for sc.Scan() {
		var n uint32
		if _, err := fmt.Sscanf(sc.Text(), "ack %d", &n); err != nil {
			continue
		}
		acked[n] = true
		if len(acked) == 100 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if len(acked) < 100 {
		t.Fatalf("child acknowledged only %d deliveries", len(acked))
	}
	msgs, err := s.Messages(ctx, mustMailbox(t, s, "alice", "INBOX").ID)
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint32]bool{}
	for _, m := range msgs {
		have[m.UID] = true
	}
	for n := range acked {
		if !have[n] {
			t.Errorf("acknowledged uid %d lost after kill -9", n)
		}
	}
}

// The PostgreSQL migration runner, like SQLite's: only the missing steps,
// in order, with the version; a failing step changes nothing.
func TestPostgresMigrationsRunInOrderOnce(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	openPostgres(t, dsn).Close() // version 1, with a user to migrate
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO users(name, hash, created) VALUES ('alice', 'x', 0)`); err != nil {
		t.Fatal(err)
	}
	steps := append(append([]string(nil), store.PostgresMigrations...),
		`ALTER TABLE users ADD COLUMN note TEXT NOT NULL DEFAULT ''`,
		`UPDATE users SET note = 'v' || (SELECT count(*) FROM information_schema.columns WHERE table_name = 'users')`)
	for range 2 {
		if err := store.MigratePostgres(ctx, db, steps); err != nil {
			t.Fatal(err)
		}
	}
	version := func() int {
		var v int
		if err := db.QueryRowContext(ctx, `SELECT version FROM labd_schema`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := version(); v != len(steps) {
		t.Errorf("version %d, want %d", v, len(steps))
	}
	var note string
	if err := db.QueryRowContext(ctx, `SELECT note FROM users WHERE name = 'alice'`).Scan(&note); err != nil || note != "v6" {
		t.Errorf("note = %q, %v: steps not run in order", note, err)
	}
	bad := append(append([]string(nil), steps...), `ALTER TABLE nosuch ADD COLUMN x TEXT`)
	if err := store.MigratePostgres(ctx, db, bad); err == nil {
		t.Error("a failing migration reported success")
	}
	if v := version(); v != len(steps) {
		t.Errorf("version after a failed step %d, want %d", v, len(steps))
	}
}

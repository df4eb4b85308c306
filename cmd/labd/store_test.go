package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/store"
)

// `labd store copy` moves a SQLite install to PostgreSQL with UIDs and
// UIDVALIDITY intact.
func TestStoreCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := labtest.Postgres(t)
	path := filepath.Join(t.TempDir(), "labd.db")
	src, err := store.OpenSQLite(path, store.Options{BcryptCost: labtest.BcryptCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.CreateUser(ctx, "alice", "alice", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := src.Deliver(ctx, []string{"alice"}, []byte("Subject: x\r\n\r\n"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := src.Mailbox(ctx, "alice", "INBOX")
	src.Expunge(ctx, in.ID, []uint32{1})
	in, _ = src.Mailbox(ctx, "alice", "INBOX")
	src.Close()

	out, code := labd(t, "store", "copy", "--from", "sqlite:"+path, "--to", "postgres:"+dsn)
	if code != 0 || !strings.Contains(out, "copied 1 users") {
		t.Fatalf("labd store copy: exit %d\n%s", code, out)
	}
	dst, err := store.OpenPostgres(ctx, dsn, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.Mailbox(ctx, "alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if got.UIDValidity != in.UIDValidity || got.UIDNext != 4 || got.Messages != 2 {
		t.Errorf("INBOX on PostgreSQL %+v, on SQLite %+v", got, in)
	}
	msgs, _ := dst.Messages(ctx, got.ID)
	if len(msgs) != 2 || msgs[0].UID != 2 || msgs[1].UID != 3 {
		t.Errorf("UIDs after copy: %+v", msgs)
	}
	// Again: the destination is no longer empty.
	if out, code := labd(t, "store", "copy", "--from", "sqlite:"+path, "--to", "postgres:"+dsn); code == 0 || !strings.Contains(out, "already has 1 users") {
		t.Errorf("second copy: exit %d\n%s", code, out)
	}
	if out, code := labd(t, "store", "copy", "--from", "sqlite:"+path+".typo", "--to", "postgres:"+dsn); code == 0 || !strings.Contains(out, "typo") {
		t.Errorf("copy from a missing file: exit %d\n%s", code, out)
	}
}

// With its database unreachable, labd serve says so and exits non-zero
// (systemd restarts it) instead of serving without a store.
func TestServeExitsWhenDatabaseIsDown(t *testing.T) {
	path, _ := writeConfig(t, func(c *config.Config) {
		c.Store = config.Store{Driver: "postgres", DSN: "host=127.0.0.1 port=1 user=labd dbname=labd sslmode=disable"}
	})
	cmd := exec.Command(labdBin, "serve", "--config", path)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 {
		t.Fatalf("labd serve with the database down: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cannot connect to PostgreSQL") || !strings.Contains(string(out), "127.0.0.1:1") {
		t.Errorf("labd serve with the database down said:\n%s", out)
	}
}

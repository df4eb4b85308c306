package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyFixture copies a testdata database so that the test may migrate it.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "labd.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func userVersion(t *testing.T, s *SQLite) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// testdata/labd-v0.db was written by labd before schema versioning (commit
// 753fd76, user_version 0): alice (password alice) with an SSH key, a
// mailbox Été, INBOX UID 1 \Seen and UID 2 expunged (UIDNEXT 3); bob
// (admin, password bob) with UID 1 in INBOX.
func TestOpenMigratesPreviousSchema(t *testing.T) {
	ctx := context.Background()
	path := copyFixture(t, "labd-v0.db")
	s := open(t, path)
	if v := userVersion(t, s); v != len(sqliteMigrations) {
		t.Fatalf("user_version after open = %d, want %d", v, len(sqliteMigrations))
	}
	if _, err := s.Authenticate(ctx, "test", "alice", "alice"); err != nil {
		t.Errorf("alice's password after migration: %v", err)
	}
	if u, err := s.User(ctx, "bob"); err != nil || !u.Admin {
		t.Errorf("bob after migration: %+v, %v", u, err)
	}
	if keys, err := s.Keys(ctx, "alice"); err != nil || len(keys) != 1 {
		t.Errorf("alice's keys: %q, %v", keys, err)
	}
	in := mustMailbox(t, s, "alice", "INBOX")
	if in.UIDNext != 3 || in.Messages != 1 || in.Unseen != 0 {
		t.Errorf("alice's INBOX after migration: %+v", in)
	}
	mustMailbox(t, s, "alice", "Été")
	// Writing still works and UIDs do not repeat.
	if _, uid, err := s.Append(ctx, "alice", "INBOX", []byte("x\r\n"), nil, time.Time{}); err != nil || uid != 3 {
		t.Errorf("append after migration: uid %d, %v", uid, err)
	}
	// Opening again is a no-op.
	s.Close()
	s2 := open(t, path)
	if v := userVersion(t, s2); v != len(sqliteMigrations) {
		t.Errorf("user_version after reopen = %d", v)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "labd.db")
	s := open(t, path)
	if _, err := s.db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := OpenSQLite(path, Options{BcryptCost: 4})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a newer database: %v, want ErrSchemaTooNew naming the file and its version", err)
	}
}

// The runner applies only the missing steps, in order, and records the
// version with them.
func TestMigrationsRunInOrderOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t, copyFixture(t, "labd-v0.db"))
	steps := append(append([]string(nil), sqliteMigrations...),
		`ALTER TABLE users ADD COLUMN note TEXT NOT NULL DEFAULT ''`,
		`UPDATE users SET note = 'v' || (SELECT count(*) FROM pragma_table_info('users'))`)
	for range 2 {
		if err := migrateSQLite(ctx, s.db.DB, steps); err != nil {
			t.Fatal(err)
		}
	}
	if v := userVersion(t, s); v != len(steps) {
		t.Errorf("user_version = %d, want %d", v, len(steps))
	}
	var note string
	if err := s.db.QueryRow(`SELECT note FROM users WHERE name = 'alice'`).Scan(&note); err != nil || note != "v6" {
		t.Errorf("note = %q, %v: steps not run in order", note, err)
	}
	// A failing step leaves the version where it was.
	bad := append(append([]string(nil), steps...), `ALTER TABLE nosuch ADD COLUMN x`)
	if err := migrateSQLite(ctx, s.db.DB, bad); err == nil {
		t.Error("a failing migration reported success")
	}
	if v := userVersion(t, s); v != len(steps) {
		t.Errorf("user_version after a failed step = %d, want %d", v, len(steps))
	}
}

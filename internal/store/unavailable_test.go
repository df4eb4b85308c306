package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnavailableClassifiesPostgresErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"serialization", &pgconn.PgError{Code: "40001"}, false},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"not found", fmt.Errorf("user x: %w", ErrNotFound), false},
		{"canceled", context.Canceled, false},
	} {
		got := errors.Is(unavailable(tc.err), ErrUnavailable)
		if got != tc.want {
			t.Errorf("%s: unavailable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// SQLite's "database is locked" (another process holds the write lock
// longer than the busy timeout) is a temporary failure; a constraint
// violation is not.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	holder, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	holder.SetMaxOpenConns(1)
	if _, err := holder.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(`INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	dup := sqliteUnavailable(func() error { _, err := holder.Exec(`INSERT INTO t VALUES (1)`); return err }())
	if dup == nil || errors.Is(dup, ErrUnavailable) {
		t.Errorf("duplicate key: %v, want a plain error", dup)
	}
	if _, err := holder.Exec(`BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	defer holder.Exec(`ROLLBACK`)
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.Exec(`SELECT count(*) FROM t`)
	if !errors.Is(sqliteUnavailable(err), ErrUnavailable) {
		t.Errorf("read under another's exclusive lock: %v, want ErrUnavailable", err)
	}
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
)

// SnapshotSQLite writes a consistent copy of the SQLite database at path
// into dest (which must not exist) with VACUUM INTO, through a connection
// of its own: it runs while the daemon serves, as one more reader of the
// WAL database, and never blocks its writers for long.
func SnapshotSQLite(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("snapshot %s into %s: %w", path, dest, err)
	}
	return nil
}

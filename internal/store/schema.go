package store

import (
	"context"
	"database/sql"
	"fmt"
)

// The schema is versioned: migrations[i] brings a database from version i
// to version i+1, in one transaction with the version change, so that a
// crash leaves either the old version or the new one. SQLite keeps the
// version in PRAGMA user_version. A database newer than this labd is
// refused rather than written with assumptions that no longer hold.
//
// Version 0 is the schema of labd before versioning: the same tables as
// version 1, which is why version 1 creates them only if they are missing.
// To change the schema, append a migration; never edit a released one.

// sqliteMigrations are the SQLite schema's steps, in order.
var sqliteMigrations = []string{sqliteV1}

const sqliteV1 = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	hash    TEXT NOT NULL,
	admin   INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ssh_keys (
	id          INTEGER PRIMARY KEY,
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	UNIQUE(user_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS mailboxes (
	-- AUTOINCREMENT: a deleted mailbox's ID is never given to another,
	-- so that a view keyed by ID cannot outlive its mailbox.
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	uidnext     INTEGER NOT NULL,
	special_use TEXT NOT NULL DEFAULT '',
	subscribed  INTEGER NOT NULL DEFAULT 1,
	UNIQUE(user_id, name)
);
CREATE TABLE IF NOT EXISTS messages (
	id            INTEGER PRIMARY KEY,
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	flags         TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	body          BLOB NOT NULL,
	UNIQUE(mailbox_id, uid)
);
`

// ErrSchemaTooNew is returned when a database was written by a newer labd.
var ErrSchemaTooNew = fmt.Errorf("%w: database schema is newer than this labd", ErrInvalid)

// migrateSQLite brings db to len(steps). The write transaction (BEGIN
// IMMEDIATE, see OpenSQLite) keeps two labd processes from migrating at
// once: the second waits, then finds nothing to do.
func migrateSQLite(ctx context.Context, db *sql.DB, steps []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("schema migration: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(steps) {
		return fmt.Errorf("%w: it has version %d, this labd knows versions up to %d; run the newer labd, or restore a backup made by this version", ErrSchemaTooNew, v, len(steps))
	}
	if v == len(steps) {
		return nil
	}
	for i := v; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			return fmt.Errorf("migrate schema from version %d to %d: %w", i, i+1, err)
		}
	}
	// PRAGMA takes no parameters; len(steps) is ours, not input.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
		return fmt.Errorf("set schema version %d: %w", len(steps), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema migration to version %d: %w", len(steps), err)
	}
	return nil
}

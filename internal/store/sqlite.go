package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

const schema = `
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

// SQLite is the embedded store. Its methods are split by concern:
// groupcommit.go (how writes reach the disk), users.go, mailboxes.go and
// messages.go.
type SQLite struct {
	db *sql.DB
	// Writes are group-committed: concurrent writers queue their work, one
	// of them (the leader) runs the whole queue in one transaction, each
	// writer's work in its own savepoint, and commits once. With
	// synchronous=FULL a commit costs an fsync, so eight SMTP clients
	// share one fsync instead of waiting for eight. Only the leader
	// writes, so there is no SQLITE_BUSY between our own goroutines, and
	// events leave in exactly commit order.
	wmu      sync.Mutex // guards queue, leading, closed
	queue    []*writeReq
	leading  bool
	commitMu sync.Mutex // held by the leader while it commits
	smu      sync.Mutex
	subs     map[int]func(Event)
	next     int
	// cost is the bcrypt cost of new password hashes.
	cost int
	// dummyHash, of the same cost as real hashes, makes a login for an
	// unknown user cost as much as a wrong password, so that timing does
	// not tell which names exist.
	dummyHash []byte
	closed    bool
}

// Options tune OpenSQLite.
type Options struct {
	// BcryptCost defaults to bcrypt.DefaultCost; tests lower it.
	BcryptCost int
}

// OpenSQLite opens (creating if needed) the database at path.
func OpenSQLite(path string, opts Options) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: an acknowledged write (SMTP 250, IMAP OK) is on disk, not
	// only in the WAL's page cache, before the client hears of it.
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: create schema: %w", path, err)
	}
	cost := opts.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("labd-dummy"), cost)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: bcrypt cost %d: %w", path, cost, err)
	}
	return &SQLite{db: db, subs: map[int]func(Event){}, cost: cost, dummyHash: dummy}, nil
}

// Close closes the database; the WAL is checkpointed.
func (s *SQLite) Close() error {
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return nil
	}
	s.closed = true
	s.wmu.Unlock()
	// Let a commit in progress (and the queue behind it) finish.
	for {
		s.commitMu.Lock()
		s.wmu.Lock()
		idle := !s.leading && len(s.queue) == 0
		s.wmu.Unlock()
		if idle {
			break
		}
		s.commitMu.Unlock()
		time.Sleep(time.Millisecond)
	}
	defer s.commitMu.Unlock()
	_, _ = s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return s.db.Close()
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store is closed")

// Subscribe implements Store.
func (s *SQLite) Subscribe(fn func(Event)) func() {
	s.smu.Lock()
	id := s.next
	s.next++
	s.subs[id] = fn
	s.smu.Unlock()
	return func() {
		s.smu.Lock()
		delete(s.subs, id)
		s.smu.Unlock()
	}
}

var _ Store = (*SQLite)(nil)

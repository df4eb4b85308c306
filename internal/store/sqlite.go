package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// DB is the store on SQL: SQLite (embedded, one host, the default) or
// PostgreSQL (several labd hosts on one database, postgres.go). Both run the
// same queries (users.go, mailboxes.go, messages.go), written in the SQL the
// two share; both group-commit their writes (groupcommit.go: with a
// savepoint per writer on SQLite, without on PostgreSQL, postgres.go) and
// they differ in how events reach
// subscribers (from the committer for SQLite, from an ordered event log for
// PostgreSQL, so that other hosts see them too).
type DB struct {
	db *conn
	pg *pgState // nil for SQLite
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
	// commits, if set, is told of every commit (ObserveCommits).
	commits atomic.Pointer[CommitObserver]
}

// SQLite is the name DB had when SQLite was its only backend.
type SQLite = DB

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
	if err := migrateSQLite(context.Background(), db, sqliteMigrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s, err := newDB(&conn{DB: db, stmts: newStmtCache(db)}, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

func newDB(c *conn, opts Options) (*DB, error) {
	cost := opts.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := dummyHashFor(cost)
	if err != nil {
		return nil, err
	}
	return &DB{db: c, subs: map[int]func(Event){}, cost: cost, dummyHash: dummy}, nil
}

// Close closes the database; SQLite's WAL is checkpointed.
func (s *DB) Close() error {
	if !s.markClosed() {
		return nil
	}
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
	if s.pg != nil {
		return s.closePostgres()
	}
	s.db.stmts.close()
	_, _ = s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return s.db.DB.Close()
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store is closed")

// Subscribe implements Store.
func (s *DB) Subscribe(fn func(Event)) func() {
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

var _ Store = (*DB)(nil)

// markClosed refuses further writes; it says false if Close already ran.
func (s *DB) markClosed() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	return true
}

// ObserveCommits makes o hear of every commit from now on (nil: none).
// labd's metrics use it for the commit latency and batch size histograms.
func (s *DB) ObserveCommits(o CommitObserver) {
	if o == nil {
		s.commits.Store(nil)
		return
	}
	s.commits.Store(&o)
}

// committed tells the observer, if any, of one commit started at start.
func (s *DB) committed(start time.Time, writers int) {
	if o := s.commits.Load(); o != nil {
		(*o).Commit(time.Since(start), writers)
	}
}

// subscribers is a snapshot of the subscribers, to call without smu.
func (s *DB) subscribers() []func(Event) {
	s.smu.Lock()
	defer s.smu.Unlock()
	subs := make([]func(Event), 0, len(s.subs))
	for _, fn := range s.subs {
		subs = append(subs, fn)
	}
	return subs
}

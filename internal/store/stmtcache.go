package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statement cache. The store's queries are
// constants (a few dozen texts); a query built at run time with a varying
// text would otherwise fill the cache for ever. Past the bound, queries run
// unprepared, as they all did before the cache: nothing is ever evicted, so
// a statement handed out is never closed under its user (until Close).
const maxCachedStmts = 128

// stmtCache keeps one prepared statement per query text for the life of
// the SQLite pool. Without it every query is parsed and planned again by
// SQLite (sqlite3Prepare was 19% of labd's CPU delivering mail and 17% of a
// full-body FETCH). A *sql.Stmt belongs to the pool, not to a connection:
// database/sql prepares it again, once, on each connection it runs on, and
// Tx.StmtContext reuses the connection's copy inside a transaction.
// modernc.org/sqlite keeps the compiled statement in its driver.Stmt and
// resets it after each use (at rows.Close for a query), so a statement must
// not be run again on the same connection while its rows are still open:
// on the pool that cannot happen (open rows hold their connection), and no
// write of this package runs a query inside the rows of the same query.
//
// PostgreSQL has no cache here: pgx prepares and caches statements per
// connection by itself.
type stmtCache struct {
	db     *sql.DB
	mu     sync.RWMutex
	m      map[string]*sql.Stmt
	closed bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for q, preparing it at first use, or
// nil when q is to run unprepared: no cache (PostgreSQL), the cache full or
// closed, or the prepare failed (the unprepared query then reports why).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	st, closed, full := c.m[q], c.closed, len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if st != nil || closed || full {
		return st
	}
	// Prepared outside the lock: preparing can wait for SQLite's schema
	// lock, and other queries must not wait behind it.
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil || c.closed || len(c.m) >= maxCachedStmts {
		// Another goroutine prepared it first, or Close ran meanwhile.
		st.Close()
		return old
	}
	c.m[q] = st
	return st
}

// close closes every statement; later gets return nil, so that queries
// after Close fail as they did without the cache (database is closed).
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

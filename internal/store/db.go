package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// conn is the connection pool; with pg set, the queries' ? placeholders
// become PostgreSQL's $1, $2... On SQLite, stmts runs the queries as
// prepared statements (stmtcache.go).
type conn struct {
	*sql.DB
	pg    bool
	stmts *stmtCache // nil on PostgreSQL
}

func (c *conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = rebind(c.pg, q)
	if st := c.stmts.get(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.DB.ExecContext(ctx, q, args...)
}

func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = rebind(c.pg, q)
	if st := c.stmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.DB.QueryContext(ctx, q, args...)
}

func (c *conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	q = rebind(c.pg, q)
	if st := c.stmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.DB.QueryRowContext(ctx, q, args...)
}

// Tx is a write transaction, given to the functions DB.write runs.
type Tx struct {
	*sql.Tx
	pg bool
	// stmts is the pool's statement cache (nil on PostgreSQL); bound
	// holds its statements bound to this transaction, so that a batch of
	// deliveries binds each statement once (Tx.StmtContext allocates and
	// registers a statement each time). database/sql closes them with
	// the transaction.
	stmts *stmtCache
	bound map[string]*sql.Stmt
}

// stmt is q prepared and bound to t, or nil to run q unprepared.
func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.bound[q]; st != nil {
		return st
	}
	st := t.stmts.get(ctx, q)
	if st == nil {
		return nil
	}
	if t.bound == nil {
		t.bound = map[string]*sql.Stmt{}
	}
	st = t.Tx.StmtContext(ctx, st)
	t.bound[q] = st
	return st
}

func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = rebind(t.pg, q)
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = rebind(t.pg, q)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	q = rebind(t.pg, q)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// rebind turns the shared SQL into the backend's: PostgreSQL numbers its
// placeholders; SQLite has no row locks (its writes are serialised anyway)
// and so no FOR UPDATE. No query of this package has a ? inside a string.
func rebind(pg bool, q string) string {
	if !pg {
		return strings.TrimSuffix(q, " FOR UPDATE")
	}
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// write runs fn in a write transaction and returns once it is committed
// (or failed). After commit, the events fn emitted are published in commit
// order, before write returns.
func (s *DB) write(ctx context.Context, fn func(ctx context.Context, tx *Tx, emit func(Event)) error) error {
	return s.classify(s.groupWrite(ctx, fn))
}

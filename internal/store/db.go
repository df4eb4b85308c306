package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// conn is the connection pool; with pg set, the queries' ? placeholders
// become PostgreSQL's $1, $2...
type conn struct {
	*sql.DB
	pg bool
}

func (c *conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.DB.ExecContext(ctx, rebind(c.pg, q), args...)
}

func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, rebind(c.pg, q), args...)
}

func (c *conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.DB.QueryRowContext(ctx, rebind(c.pg, q), args...)
}

// Tx is a write transaction, given to the functions DB.write runs.
type Tx struct {
	*sql.Tx
	pg bool
}

func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(t.pg, q), args...)
}

func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
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

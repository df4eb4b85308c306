package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ErrUnavailable wraps failures to reach the database or to get an answer
// from it (PostgreSQL gone or restarting, SQLite's disk failing or its
// lock held too long), as opposed to the store's own answers (not found,
// exists, invalid). The protocols answer it with a temporary failure
// (SMTP 451, IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP]) and the client
// tries again later; it never counts as a wrong password.
var ErrUnavailable = errors.New("database unavailable")

// classify marks err with ErrUnavailable when it says the database could
// not answer. Every public method of DB returns its error through it.
func (s *DB) classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if s.pg != nil || s.db.pg {
		return unavailable(err)
	}
	return sqliteUnavailable(err)
}

// unavailable marks errors of the connection to PostgreSQL (no answer
// from the server, or the server saying it is going away or cannot take
// the connection), as opposed to the server's or the store's own answers,
// with ErrUnavailable.
func unavailable(err error) error {
	var pe *pgconn.PgError
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case err == nil, errors.Is(err, ErrUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pe):
		if pgUnavailableCode(pe.Code) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne), errors.As(err, &ce), pgconn.SafeToRetry(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// pgUnavailableCode says whether a PostgreSQL SQLSTATE means "not now"
// rather than "no": class 08 (connection exception), 53 (insufficient
// resources: too many connections, disk full, out of memory), 57P01-57P03
// (administrator or crash shutdown, the server still starting).
func pgUnavailableCode(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") ||
		code == "57P01" || code == "57P02" || code == "57P03"
}

// SQLite's primary result codes that mean the database cannot answer now
// (https://sqlite.org/rescode.html): the extended codes (SQLITE_IOERR_FSYNC
// and the like) carry the primary code in their low byte.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
)

// sqliteUnavailable marks SQLite's busy, locked and I/O errors with
// ErrUnavailable.
func sqliteUnavailable(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteProtocol:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

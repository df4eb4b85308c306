package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL backend: several labd hosts share one database.
//
// Writes: group-committed (pgCommitBatch), retried on a serialisation
// failure or deadlock.
//
// Events: a write that emits events appends them, in the same transaction,
// to the events table under a sequence number taken from a counter row
// (meta 'eventseq'). The row lock on the counter is held until commit, so
// sequence numbers are committed in order and without gaps: a reader that
// has seen N has seen everything before N. NOTIFY labd_events wakes every
// host's listener; each host publishes the log to its subscribers in
// sequence order, its own writes included (with their Origin, from a
// local copy), before the write returns. A listener that lost its
// connection reads the log from where it stopped, so nothing is missed.

// pgChannel is the LISTEN/NOTIFY channel.
const pgChannel = "labd_events"

// eventRetention is how long the event log keeps entries: a host away
// longer than this misses changes (its IMAP clients see them at the next
// SELECT).
const eventRetention = time.Hour

type pgState struct {
	dsn  string
	node string // random per store: tells this host's log entries apart
	log  *slog.Logger

	pubMu sync.Mutex // held while publishing; guards last
	last  int64      // highest event sequence published

	lmu    sync.Mutex
	wid    int64                // last write id
	local  map[int64]localWrite // by sequence: this host's committed events, with Origin
	cancel context.CancelFunc
	done   chan struct{}
}

type localWrite struct {
	wid    int64
	events []Event
}

// logEntry is one write's events in the log.
type logEntry struct {
	WID    int64   `json:"w"`
	Events []Event `json:"e"`
}

// PostgresOptions tune OpenPostgres.
type PostgresOptions struct {
	Options
	// Logger receives listener reconnections; nil discards.
	Logger *slog.Logger
	// ConnectTimeout bounds the first connection; default 10 s.
	ConnectTimeout time.Duration
}

// OpenPostgres connects to the database at dsn (a libpq URL or key=value
// string), migrates its schema and starts listening for other hosts'
// changes. An unreachable database is an error at once: labd exits and its
// supervisor restarts it.
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w store.dsn: %v", ErrInvalid, err)
	}
	where := fmt.Sprintf("PostgreSQL database %s on %s:%d as %s", cfg.Database, cfg.Host, cfg.Port, cfg.User)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	timeout := opts.ConnectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: cannot connect to %s: %w; check store.dsn and that the server is up", ErrUnavailable, where, err)
	}
	if err := migratePostgres(pctx, db, postgresMigrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	s, err := newDB(&conn{DB: db, pg: true}, opts.Options)
	if err != nil {
		db.Close()
		return nil, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &pgState{dsn: dsn, node: hex.EncodeToString(id[:]), log: logger, local: map[int64]localWrite{}, done: make(chan struct{})}
	// Events committed before this store opened are history, not news.
	if err := db.QueryRowContext(pctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&p.last); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: read the event log: %w", where, err)
	}
	s.pg = p
	lctx, lcancel := context.WithCancel(context.Background())
	p.cancel = lcancel
	go s.listen(lctx)
	return s, nil
}

func (s *DB) closePostgres() error {
	s.pg.cancel()
	<-s.pg.done
	return s.db.DB.Close()
}

// retryable says whether a failed transaction may simply be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// errSplit says that one writer of a batch failed: the batch, which has
// no savepoints, is rolled back and its writers run one by one.
var errSplit = errors.New("a writer of the batch failed")

// pgCommitBatch is commitBatch for PostgreSQL: the writers queued while
// the previous batch committed run in one transaction and share one
// commit (one fsync, one hold of the event counter's lock, one BEGIN and
// COMMIT). Unlike SQLite's, the batch has no savepoints (each would cost
// two round trips, as much as it saves): a writer failing, which is rare,
// rolls the batch back and its writers run again one by one. Events are
// published before any writer is answered.
func (s *DB) pgCommitBatch(batch []*writeReq) {
	live := make([]*writeReq, 0, len(batch))
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err == nil {
			live = append(live, r)
		}
	}
	if len(live) > 0 {
		err := s.pgRun(live)
		if errors.Is(err, errSplit) {
			for _, r := range live {
				if err := s.pgRun([]*writeReq{r}); err != nil {
					r.err = err
				}
			}
		} else if err != nil {
			for _, r := range live {
				r.err = err
			}
		}
	}
	for _, r := range batch {
		r.done <- r.err
	}
}

// pgRun runs reqs in one transaction, again after a serialisation failure
// or deadlock (with another host), and publishes their events once
// committed. A single writer's own failure is in its err; with several,
// one failing returns errSplit.
func (s *DB) pgRun(reqs []*writeReq) error {
	for attempt := 0; ; attempt++ {
		seq, wid, err := s.pgTry(reqs)
		if err != nil && retryable(err) && attempt < 10 {
			continue
		}
		if err != nil {
			return err
		}
		if seq > 0 {
			// Committed: a failure to publish now is the listener's to
			// repair, not the writers' (their changes are durable).
			s.publishOwn(context.Background(), seq, wid)
		}
		return nil
	}
}

// pgTry runs reqs once in one transaction and returns the event sequence
// number it committed, or 0 if they emitted nothing, and the write id of
// its log entry.
func (s *DB) pgTry(reqs []*writeReq) (seq, wid int64, err error) {
	start := time.Now()
	sqltx, err := s.db.DB.BeginTx(context.Background(), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: begin transaction: %w", ErrUnavailable, err)
	}
	tx := &Tx{Tx: sqltx, pg: true}
	committed := false
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store write failed: %v", p)
		}
		if !committed {
			_ = sqltx.Rollback()
		}
	}()
	var events []Event
	for _, r := range reqs {
		r.events = nil
		// Without cancellation: one client hanging up must not abort
		// the transaction the others share.
		ctx := context.WithoutCancel(r.ctx)
		origin := originOf(ctx)
		r.err = r.fn(ctx, tx, func(e Event) { e.Origin = origin; r.events = append(r.events, e) })
		switch {
		case r.err != nil && retryable(r.err):
			return 0, 0, r.err
		case r.err != nil && len(reqs) > 1:
			r.err = nil
			return 0, 0, errSplit
		case r.err != nil:
			// Its own failure, answered as such; nothing to commit.
			r.events = nil
			return 0, 0, nil
		}
		events = append(events, r.events...)
	}
	if len(events) > 0 {
		s.pg.lmu.Lock()
		s.pg.wid++
		wid = s.pg.wid
		s.pg.lmu.Unlock()
		payload, err := json.Marshal(logEntry{WID: wid, Events: events})
		if err != nil {
			return 0, 0, fmt.Errorf("encode events: %w", err)
		}
		// Last, and in one statement (one round trip), so that the
		// counter row is locked for as short a time as possible: from
		// here to the end of the commit, it serialises the commits of all
		// hosts.
		if err := tx.QueryRowContext(context.Background(), logEventsSQL, s.pg.node, time.Now().Unix(), string(payload), pgChannel).Scan(&seq); err != nil {
			return 0, 0, fmt.Errorf("event log: %w", err)
		}
		// Before commit, so that a listener that sees the entry first
		// still publishes it with its Origin.
		s.pg.lmu.Lock()
		s.pg.local[seq] = localWrite{wid: wid, events: events}
		s.pg.lmu.Unlock()
	}
	if err := sqltx.Commit(); err != nil {
		if seq > 0 {
			s.pg.lmu.Lock()
			if s.pg.local[seq].wid == wid {
				delete(s.pg.local, seq)
			}
			s.pg.lmu.Unlock()
		}
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	committed = true
	s.committed(start, len(reqs))
	return seq, wid, nil
}

// logEventsSQL takes the next event sequence number (locking the counter
// row until commit), appends one write's events to the log under it and
// queues the NOTIFY that wakes the other hosts, which PostgreSQL sends at
// commit.
const logEventsSQL = `WITH n AS (UPDATE meta SET value = value + 1 WHERE key = 'eventseq' RETURNING value),
e AS (INSERT INTO events(seq, node, created, payload) SELECT value, ?::text, ?::bigint, ?::text FROM n RETURNING seq)
SELECT e.seq FROM e CROSS JOIN LATERAL pg_notify(?::text, e.seq::text)`

// publishOwn publishes the write this host just committed under seq. When
// every entry before it is already published, its events are at hand (the
// local copy, with their Origin) and the log need not be read back: one
// round trip fewer per write. Otherwise the log is read from where
// publishing stopped.
func (s *DB) publishOwn(ctx context.Context, seq, wid int64) {
	p := s.pg
	p.pubMu.Lock()
	if p.last >= seq {
		// The listener was quicker.
		p.pubMu.Unlock()
		return
	}
	if p.last == seq-1 {
		p.lmu.Lock()
		lw, ok := p.local[seq]
		if ok && lw.wid == wid {
			delete(p.local, seq)
		}
		p.lmu.Unlock()
		if ok && lw.wid == wid {
			subs := s.subscribers()
			for _, ev := range lw.events {
				for _, fn := range subs {
					publish(fn, ev)
				}
			}
			p.last = seq
			p.pubMu.Unlock()
			return
		}
	}
	p.pubMu.Unlock()
	_ = s.catchUp(ctx)
}

// catchUp publishes, in order, every logged event after the last one
// published.
func (s *DB) catchUp(ctx context.Context) error {
	p := s.pg
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	rows, err := s.db.QueryContext(ctx, `SELECT seq, node, payload FROM events WHERE seq > ? ORDER BY seq`, p.last)
	if err != nil {
		return fmt.Errorf("%w: read the event log: %w", ErrUnavailable, err)
	}
	type entry struct {
		seq     int64
		node    string
		payload string
	}
	var todo []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.seq, &e.node, &e.payload); err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	subs := s.subscribers()
	for _, e := range todo {
		var le logEntry
		if err := json.Unmarshal([]byte(e.payload), &le); err != nil {
			p.log.Warn("store: unreadable event log entry", "seq", e.seq, "err", err)
		}
		events := le.Events
		if e.node == p.node {
			p.lmu.Lock()
			if lw, ok := p.local[e.seq]; ok {
				if lw.wid == le.WID {
					events = lw.events
				}
				delete(p.local, e.seq)
			}
			p.lmu.Unlock()
		}
		for _, ev := range events {
			for _, fn := range subs {
				publish(fn, ev)
			}
		}
		p.last = e.seq
	}
	return nil
}

// listen keeps a dedicated connection LISTENing (a pooled connection
// would be handed to other queries) and catches up after every
// notification, after every reconnection, and every few seconds in case a
// notification was lost.
func (s *DB) listen(ctx context.Context) {
	p := s.pg
	defer close(p.done)
	backoff := 100 * time.Millisecond
	lastPrune := time.Time{}
	for ctx.Err() == nil {
		var c *pgx.Conn
		cfg, err := pgx.ParseConfig(p.dsn)
		if err == nil {
			// Named, so that an operator (or a test) can find it in
			// pg_stat_activity.
			cfg.RuntimeParams["application_name"] = "labd-listen"
			c, err = pgx.ConnectConfig(ctx, cfg)
		}
		if err == nil {
			_, err = c.Exec(ctx, "LISTEN "+pgChannel)
		}
		if err != nil {
			if c != nil {
				c.Close(context.Background())
			}
			p.log.Warn("store: cannot listen for other hosts' changes; retrying", "err", err, "retry", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		// After LISTEN: whatever committed before is in the log.
		if err := s.catchUp(ctx); err != nil {
			p.log.Warn("store: catching up on changes", "err", err)
		}
		for ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, werr := c.WaitForNotification(wctx)
			cancel()
			if ctx.Err() != nil {
				break
			}
			if werr != nil && !pgconn.Timeout(werr) {
				p.log.Warn("store: lost the notification connection; reconnecting", "err", werr)
				break
			}
			if err := s.catchUp(ctx); err != nil {
				p.log.Warn("store: catching up on changes", "err", err)
			}
			if time.Since(lastPrune) > time.Minute {
				lastPrune = time.Now()
				_, _ = s.db.ExecContext(ctx, `DELETE FROM events WHERE created < ?`, time.Now().Add(-eventRetention).Unix())
			}
		}
		c.Close(context.Background())
	}
}

var postgresMigrations = []string{postgresV1, postgresV2}

// postgresV1 is the SQLite schema in PostgreSQL's types, plus the event log
// that carries changes to the other hosts.
const postgresV1 = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO meta(key, value) VALUES ('uidvalidity', 0), ('eventseq', 0);
CREATE TABLE users (
	id      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	hash    TEXT NOT NULL,
	admin   BOOLEAN NOT NULL DEFAULT false,
	created BIGINT NOT NULL
);
CREATE TABLE ssh_keys (
	id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	UNIQUE(user_id, fingerprint)
);
CREATE TABLE mailboxes (
	-- An identity never hands out a deleted mailbox's ID again.
	id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	uidvalidity BIGINT NOT NULL,
	uidnext     BIGINT NOT NULL,
	special_use TEXT NOT NULL DEFAULT '',
	subscribed  BOOLEAN NOT NULL DEFAULT true,
	UNIQUE(user_id, name)
);
CREATE TABLE messages (
	id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           BIGINT NOT NULL,
	flags         TEXT NOT NULL DEFAULT '',
	internal_date BIGINT NOT NULL,
	size          BIGINT NOT NULL,
	body          BYTEA NOT NULL,
	UNIQUE(mailbox_id, uid)
);
CREATE TABLE events (
	seq     BIGINT PRIMARY KEY,
	node    TEXT NOT NULL,
	created BIGINT NOT NULL,
	payload TEXT NOT NULL
);
CREATE INDEX events_created ON events(created);
`

// postgresV2 is the shared session log (sessionlog.go): each host's
// session summaries, and transcripts copied when sessions end.
const postgresV2 = `
CREATE TABLE sessions (
	node        TEXT NOT NULL,
	run         BIGINT NOT NULL,
	id          BIGINT NOT NULL,
	proto       TEXT NOT NULL,
	transport   TEXT NOT NULL,
	local_addr  TEXT NOT NULL,
	remote_addr TEXT NOT NULL,
	username    TEXT NOT NULL DEFAULT '',
	tls         BOOLEAN NOT NULL DEFAULT false,
	started     BIGINT NOT NULL,
	ended       BIGINT,
	bytes_in    BIGINT NOT NULL DEFAULT 0,
	bytes_out   BIGINT NOT NULL DEFAULT 0,
	state       TEXT NOT NULL,
	attrs       TEXT NOT NULL DEFAULT '{}',
	transcript  BYTEA,
	PRIMARY KEY (node, run, id)
);
CREATE INDEX sessions_started ON sessions(started);
CREATE INDEX sessions_node_started ON sessions(node, started);
`

// migratePostgres is migrateSQLite for PostgreSQL: the version is in the
// labd_schema table, and an advisory lock keeps two hosts starting at
// once from migrating together.
func migratePostgres(ctx context.Context, db *sql.DB, steps []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("schema migration: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7405528)`); err != nil {
		return fmt.Errorf("schema migration lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS labd_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema version table: %w", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM labd_schema`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `INSERT INTO labd_schema(version) VALUES (0)`)
	}
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(steps) {
		return fmt.Errorf("%w: it has version %d, this labd knows versions up to %d; run the newer labd on every host", ErrSchemaTooNew, v, len(steps))
	}
	if v == len(steps) {
		return nil
	}
	for i := v; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			return fmt.Errorf("migrate schema from version %d to %d: %w", i, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE labd_schema SET version = $1`, len(steps)); err != nil {
		return fmt.Errorf("set schema version %d: %w", len(steps), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema migration to version %d: %w", len(steps), err)
	}
	return nil
}

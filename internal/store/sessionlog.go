package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The shared session log: on PostgreSQL, every labd host writes summaries
// of its sessions (and, once a session ends, its transcript) to the
// sessions table, so that the dashboard and `labd sessions --all-nodes` of
// any host list every host's sessions (docs/scale-out.md). On SQLite there
// is one host, whose session registry already is the whole picture: the
// log is not kept there (ErrNoSessionLog).

// ErrNoSessionLog says the store keeps no shared session log (SQLite).
var ErrNoSessionLog = fmt.Errorf("%w: the shared session log needs store.driver postgres", ErrInvalid)

// SessionSummary is one session as the shared log keeps it.
type SessionSummary struct {
	Node string
	// Run tells the runs of one node apart: session IDs restart at 1 when
	// labd restarts.
	Run       int64
	ID        uint64
	Proto     string
	Transport string
	Local     string
	Remote    string
	User      string
	TLS       bool
	Start     time.Time
	End       time.Time // zero while open
	BytesIn   int64
	BytesOut  int64
	// State is "open", the session's result once closed ("ok",
	// "timeout"...), or "lost" for a session its node never closed
	// (killed or crashed).
	State string
	// Attrs are the session's protocol facts (DNS name and type, TFTP
	// file, the dashboard's own connections...).
	Attrs map[string]string
	// Transcript is the session's transcript (JSON, as the session
	// registry encodes it), copied when the session ended; nil while open,
	// and when it was not copied or was pruned.
	Transcript []byte
}

// SessionQuery selects summaries; zero fields select all.
type SessionQuery struct {
	Proto, User string
	// ExceptNode leaves one node out (the asking host's own, which it
	// reads from its registry).
	ExceptNode string
	Limit      int // newest first; 0: 500
}

// SharedSessions says whether this store keeps the shared session log.
func (s *DB) SharedSessions() bool { return s.pg != nil }

// RecordSessions writes summaries (inserted, or updating the same node,
// run and ID) in one statement. A later summary of a session in the same
// batch wins. A summary without transcript keeps the one already stored.
func (s *DB) RecordSessions(ctx context.Context, list []SessionSummary) error {
	if s.pg == nil {
		return ErrNoSessionLog
	}
	type key struct {
		node string
		run  int64
		id   uint64
	}
	last := map[key]int{}
	for i, x := range list {
		last[key{x.Node, x.Run, x.ID}] = i
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO sessions(node, run, id, proto, transport, local_addr, remote_addr, username, tls, started, ended, bytes_in, bytes_out, state, attrs, transcript) VALUES `)
	args := make([]any, 0, len(last)*16)
	n := 0
	for i, x := range list {
		if last[key{x.Node, x.Run, x.ID}] != i {
			continue
		}
		if n > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		n++
		var ended sql.NullInt64
		if !x.End.IsZero() {
			ended = sql.NullInt64{Int64: x.End.UnixMilli(), Valid: true}
		}
		args = append(args, x.Node, x.Run, int64(x.ID), x.Proto, x.Transport, x.Local, x.Remote, x.User, x.TLS,
			x.Start.UnixMilli(), ended, x.BytesIn, x.BytesOut, x.State, attrsJSON(x.Attrs), x.Transcript)
	}
	if n == 0 {
		return nil
	}
	q.WriteString(` ON CONFLICT (node, run, id) DO UPDATE SET proto = excluded.proto, transport = excluded.transport,
		local_addr = excluded.local_addr, remote_addr = excluded.remote_addr, username = excluded.username, tls = excluded.tls,
		started = excluded.started, ended = excluded.ended, bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out,
		state = excluded.state, attrs = excluded.attrs, transcript = coalesce(excluded.transcript, sessions.transcript)`)
	if _, err := s.db.ExecContext(ctx, q.String(), args...); err != nil {
		return unavailable(fmt.Errorf("record %d sessions: %w", n, err))
	}
	return nil
}

const sessionColumns = `node, run, id, proto, transport, local_addr, remote_addr, username, tls, started, ended, bytes_in, bytes_out, state, attrs`

func attrsJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func scanSummary(sc interface{ Scan(...any) error }, withTranscript bool) (SessionSummary, error) {
	var x SessionSummary
	var id, started int64
	var ended sql.NullInt64
	var attrs string
	dest := []any{&x.Node, &x.Run, &id, &x.Proto, &x.Transport, &x.Local, &x.Remote, &x.User, &x.TLS, &started, &ended, &x.BytesIn, &x.BytesOut, &x.State, &attrs}
	if withTranscript {
		dest = append(dest, &x.Transcript)
	}
	if err := sc.Scan(dest...); err != nil {
		return x, err
	}
	x.ID = uint64(id)
	if attrs != "{}" && attrs != "" {
		// Written by labd itself; an unreadable value only loses the facts.
		_ = json.Unmarshal([]byte(attrs), &x.Attrs)
	}
	x.Start = time.UnixMilli(started)
	if ended.Valid {
		x.End = time.UnixMilli(ended.Int64)
	}
	return x, nil
}

// ListSessions returns summaries, newest first, without transcripts.
func (s *DB) ListSessions(ctx context.Context, q SessionQuery) ([]SessionSummary, error) {
	if s.pg == nil {
		return nil, ErrNoSessionLog
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 500
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE (? = '' OR proto = ?) AND (? = '' OR username = ?) AND (? = '' OR node <> ?)
		ORDER BY started DESC, node, run DESC, id DESC LIMIT ?`,
		q.Proto, q.Proto, q.User, q.User, q.ExceptNode, q.ExceptNode, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list sessions: %w", err))
	}
	defer rows.Close()
	var out []SessionSummary
	for rows.Next() {
		x, err := scanSummary(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// SessionOf returns one session with its transcript; run 0 means the
// node's latest run that had this ID.
func (s *DB) SessionOf(ctx context.Context, node string, run int64, id uint64) (SessionSummary, error) {
	if s.pg == nil {
		return SessionSummary{}, ErrNoSessionLog
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+`, transcript FROM sessions
		WHERE node = ? AND (? = 0 OR run = ?) AND id = ? ORDER BY run DESC LIMIT 1`, node, run, run, int64(id))
	x, err := scanSummary(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return x, fmt.Errorf("session %d of node %s: %w", id, node, ErrNotFound)
	}
	if err != nil {
		return x, unavailable(fmt.Errorf("read session %d of node %s: %w", id, node, err))
	}
	return x, nil
}

// EndRuns marks the sessions node left open in runs other than run (a
// labd killed or crashed) as lost: they will never close.
func (s *DB) EndRuns(ctx context.Context, node string, run int64) error {
	if s.pg == nil {
		return ErrNoSessionLog
	}
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET state = 'lost', ended = started WHERE node = ? AND run <> ? AND ended IS NULL`, node, run)
	if err != nil {
		return unavailable(fmt.Errorf("end the earlier runs' sessions: %w", err))
	}
	return nil
}

// PruneSessions bounds what node keeps in the log: summaries started
// before olderThan go, and beyond the newest keep sessions, the rest go;
// beyond the newest keepTranscripts, the transcripts go (the summaries
// stay).
func (s *DB) PruneSessions(ctx context.Context, node string, olderThan time.Time, keep, keepTranscripts int) error {
	if s.pg == nil {
		return ErrNoSessionLog
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM sessions WHERE node = ? AND started < ?`, []any{node, olderThan.UnixMilli()}},
		{`DELETE FROM sessions WHERE node = ? AND (run, id) IN (SELECT run, id FROM sessions WHERE node = ? ORDER BY started DESC, run DESC, id DESC OFFSET ?)`, []any{node, node, keep}},
		{`UPDATE sessions SET transcript = NULL WHERE node = ? AND transcript IS NOT NULL AND (run, id) IN (SELECT run, id FROM sessions WHERE node = ? AND transcript IS NOT NULL ORDER BY started DESC, run DESC, id DESC OFFSET ?)`, []any{node, node, keepTranscripts}},
	} {
		if _, err := s.db.ExecContext(ctx, q.sql, q.args...); err != nil {
			return unavailable(fmt.Errorf("prune the session log: %w", err))
		}
	}
	return nil
}

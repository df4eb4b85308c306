package store

import (
	"context"
	"fmt"
	"time"
)

// Group commit: every write goes through SQLite.write.

type writeReq struct {
	ctx    context.Context
	fn     func(ctx context.Context, tx *Tx, emit func(Event)) error
	events []Event
	err    error
	done   chan error
}

// groupWrite is SQLite's write: see DB.
func (s *DB) groupWrite(ctx context.Context, fn func(ctx context.Context, tx *Tx, emit func(Event)) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, r)
	lead := !s.leading
	s.leading = true
	s.wmu.Unlock()
	if lead {
		s.lead()
	}
	return <-r.done
}

// lead commits one batch (which holds the leader's own request: it was
// queued before anyone led), then hands the lead to a new goroutine if more
// work queued meanwhile, so that the leader's own client is answered at
// once rather than after everybody else's batches.
func (s *DB) lead() {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.wmu.Lock()
	batch := s.queue
	s.queue = nil
	s.wmu.Unlock()
	switch {
	case len(batch) == 0:
	case s.pg != nil:
		s.pgCommitBatch(batch)
	default:
		s.commitBatch(batch)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(s.queue) > 0 {
		go s.lead()
		return
	}
	s.leading = false
}

func (s *DB) commitBatch(batch []*writeReq) {
	answered := 0
	fail := func(err error) {
		for _, r := range batch[answered:] {
			r.done <- err
		}
		answered = len(batch)
	}
	start := time.Now()
	sqltx, err := s.db.DB.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("begin transaction: %w", err))
		return
	}
	tx := &Tx{Tx: sqltx, stmts: s.db.stmts}
	// The savepoints are prepared statements too (tx.ExecContext), run
	// without a client's context.
	bg := context.Background()
	// A panic in a write must not leave the transaction open (it holds
	// SQLite's write lock) nor its writers waiting for ever.
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			fail(fmt.Errorf("store write failed: %v", p))
		}
	}()
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err != nil {
			continue
		}
		if _, err := tx.ExecContext(bg, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		// Without cancellation: the driver interrupts a statement whose
		// context ends, which would abort the whole shared transaction
		// because one client hung up.
		ctx := context.WithoutCancel(r.ctx)
		origin := originOf(ctx)
		r.err = r.fn(ctx, tx, func(e Event) { e.Origin = origin; r.events = append(r.events, e) })
		if r.err != nil {
			r.events = nil
			if _, err := tx.ExecContext(bg, "ROLLBACK TO w"); err != nil {
				// Some errors (disk full, I/O) make SQLite roll back the
				// whole transaction itself: the savepoint is gone ("no
				// such savepoint"). Every writer of the batch failed,
				// for the reason this write gives.
				tx.Rollback()
				fail(fmt.Errorf("store write failed and the database rolled back the whole batch: %w", r.err))
				return
			}
		}
		if _, err := tx.ExecContext(bg, "RELEASE w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	s.committed(start, len(batch))
	subs := s.subscribers()
	for _, r := range batch {
		for _, e := range r.events {
			for _, fn := range subs {
				publish(fn, e)
			}
		}
		r.done <- r.err
		answered++
	}
}

// publish calls one subscriber; its panic is its own problem, not the
// writers' nor the other subscribers'.
func publish(fn func(Event), e Event) {
	defer func() { _ = recover() }()
	fn(e)
}

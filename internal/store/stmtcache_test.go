package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func cachedStmts(s *DB) int {
	s.db.stmts.mu.RLock()
	defer s.db.stmts.mu.RUnlock()
	return len(s.db.stmts.m)
}

// The cache is bounded: query texts past the bound still answer, unprepared,
// and nothing handed out is evicted.
func TestStmtCacheBound(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := 0; i < maxCachedStmts+20; i++ {
		var n int
		if err := s.db.QueryRowContext(ctx, fmt.Sprintf("SELECT %d + ?", i), 1).Scan(&n); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if n != i+1 {
			t.Fatalf("query %d answered %d", i, n)
		}
	}
	if got := cachedStmts(s); got != maxCachedStmts {
		t.Fatalf("%d statements cached, want the bound %d", got, maxCachedStmts)
	}
}

// Deliveries and reads at once on the pool's connections: each connection
// gets its own copy of a statement, and a statement's rows are never reset
// under another reader.
func TestStmtCacheConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in, err := s.Mailbox(ctx, "alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := 0; w < writers; w++ {
		wg.Add(2)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := fmt.Sprintf("Subject: %d/%d\r\n\r\nbody\r\n", w, i)
				if err := s.Deliver(ctx, []string{"alice"}, []byte(msg), time.Time{}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msgs, err := s.Messages(ctx, in.ID)
				if err != nil {
					errs <- err
					return
				}
				for _, m := range msgs {
					b, err := s.Body(ctx, in.ID, m.UID)
					if err != nil {
						errs <- fmt.Errorf("body of uid %d: %w", m.UID, err)
						return
					}
					if int64(len(b)) != m.Size {
						errs <- fmt.Errorf("body of uid %d: %d bytes, size says %d", m.UID, len(b), m.Size)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	msgs, err := s.Messages(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != writers*each {
		t.Fatalf("%d messages stored, want %d", len(msgs), writers*each)
	}
}

// After Close the statements are closed and queries fail as they did
// without the cache, instead of using a finalized statement.
func TestStmtCacheClosed(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.User(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if cachedStmts(s) == 0 {
		t.Fatal("the user lookup was not prepared")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := cachedStmts(s); got != 0 {
		t.Fatalf("%d statements left after Close", got)
	}
	if _, err := s.User(ctx, "alice"); err == nil {
		t.Fatal("a lookup after Close succeeded")
	}
}

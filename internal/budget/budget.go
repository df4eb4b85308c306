// Package budget bounds the bytes of messages held in memory by all
// sessions of the daemon together (SMTP DATA, IMAP APPEND), so that a few
// students sending large messages at once cannot exhaust the host: beyond
// the budget a transfer is refused with a try-again reply, never queued.
package budget

import (
	"errors"
	"io"
	"sync"
)

// ErrExhausted is returned by a Reader when the budget is used up.
var ErrExhausted = errors.New("too many message bytes in flight on this server right now; try again in a minute")

// Budget is a daemon-wide count of in-flight message bytes. A nil *Budget
// has no limit.
type Budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// New returns a budget of limit bytes (0 or less: no limit).
func New(limit int64) *Budget { return &Budget{limit: limit} }

// TryAcquire takes n bytes if they fit.
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || b.limit <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// Release gives n bytes back.
func (b *Budget) Release(n int64) {
	if b == nil || b.limit <= 0 || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// Used returns the bytes held now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Reader takes budget for every byte read through it; Close gives it all
// back (call it once the message is delivered or dropped).
type Reader struct {
	r    io.Reader
	b    *Budget
	held int64
	err  error
}

// NewReader reads r under b.
func NewReader(r io.Reader, b *Budget) *Reader { return &Reader{r: r, b: b} }

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if !r.b.TryAcquire(int64(n)) {
			r.err = ErrExhausted
			return 0, r.err
		}
		r.held += int64(n)
	}
	return n, err
}

// Exhausted says whether the read stopped because the budget ran out.
func (r *Reader) Exhausted() bool { return r.err == ErrExhausted }

// Close releases what the reader holds.
func (r *Reader) Close() error {
	r.b.Release(r.held)
	r.held = 0
	return nil
}

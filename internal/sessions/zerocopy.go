package sessions

import (
	"errors"
	"io"
)

// zeroCopyChunk is how much one sendfile(2) or splice(2) call may move
// before the session's byte counters are brought up to date, so that the
// dashboard sees a long transfer progress.
const zeroCopyChunk = 4 << 20

// ReadFrom lets io.Copy(conn, file) keep the kernel's zero-copy path
// (sendfile for a file, splice for a socket) through the recording conn:
// what the transcript can still hold goes through Write and is recorded as
// before; the rest, which the transcript bound would drop anyway, goes to
// the socket's own ReadFrom and is only counted.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok || c.sess.reg.faults.Any() {
		// Under a teacher's fault every write goes through Write, where
		// bandwidth, delay and reset act.
		return io.Copy(writerOnly{c}, r)
	}
	var total int64
	if room := c.sess.room(); room > 0 {
		n, err := io.CopyN(writerOnly{c}, r, room)
		total += n
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	// The kernel recognises only one level of *io.LimitedReader around
	// the file: unwrap the caller's limit and re-apply it per chunk.
	src, left := r, int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	for left != 0 {
		want := int64(zeroCopyChunk)
		if left > 0 {
			want = min(want, left)
		}
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: want})
		if n > 0 {
			total += n
			if left > 0 {
				left -= n
			}
			c.sess.bytesOut.Add(n)
			c.sess.skipped()
		}
		if err != nil || n < want {
			return total, err
		}
	}
	return total, nil
}

// WriteTo is ReadFrom's counterpart for uploads: io.Copy(file, conn)
// splices from the socket into the file once the transcript is full.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok || c.sess.reg.faults.Any() {
		// Under a fault every read goes through Read (ftp ratelimit).
		return io.Copy(w, readerOnly{c})
	}
	var total int64
	if room := c.sess.room(); room > 0 {
		n, err := io.CopyN(w, readerOnly{c}, room)
		total += n
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	for {
		n, err := rf.ReadFrom(&io.LimitedReader{R: c.Conn, N: zeroCopyChunk})
		if n > 0 {
			total += n
			c.sess.bytesIn.Add(n)
			c.sess.skipped()
		}
		if err != nil || n < zeroCopyChunk {
			return total, err
		}
	}
}

// writerOnly and readerOnly hide ReadFrom/WriteTo so that io.Copy does not
// call back into them.
type writerOnly struct{ io.Writer }

type readerOnly struct{ io.Reader }

// room is how many more bytes the transcript records (0 once it is full
// or the connection is encrypted, where only lengths are kept).
func (s *Session) room() int64 {
	if s.full.Load() || s.tls.Load() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held < 0 {
		return 0
	}
	return int64(max(s.reg.opts.TranscriptBytes-s.held-entryCost, 0))
}

// skipped notes that bytes crossed the session without being recorded.
func (s *Session) skipped() {
	s.full.Store(true)
	s.mu.Lock()
	s.info.Truncated = true
	s.mu.Unlock()
}

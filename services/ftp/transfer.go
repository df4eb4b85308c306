package ftp

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"labd/internal/sessions"
)

// client is labd's state for one control connection.
type client struct {
	svc    *Service
	sess   *sessions.Session // nil only if the conn was not registered
	ctrl   *ctrlConn         // its control connection
	remote string
	log    *slog.Logger

	mu   sync.Mutex
	user string
	anon bool
	fs   *rootFs
	pub  *rootFs // pub/ in a user's view (mountFs), released with fs

	// pasvPort is the port of this client's last PASV/EPSV reply: its
	// data connection is the one accepted there.
	pasvPort atomic.Int32
	// listing: the command in progress is LIST, whose lines get the
	// user as owner instead of the library's "ftp ftp".
	listing atomic.Bool
	// active is the pending PORT/EPRT target (active.go); protP: PROT P
	// was accepted, data connections are TLS.
	active atomic.Pointer[activeTarget]
	protP  atomic.Bool

	// lastActivity (unix nanoseconds) is the last time a data transfer
	// moved bytes or ended: the idle timeout counts from it too.
	lastActivity atomic.Int64
}

func (c *client) touch() { c.lastActivity.Store(time.Now().UnixNano()) }

// busyWithin reports whether a data transfer moved bytes (or ended)
// within d, and when it last did.
func (c *client) busyWithin(d time.Duration) (time.Time, bool) {
	last := time.Unix(0, c.lastActivity.Load())
	return last, c.lastActivity.Load() != 0 && time.Since(last) < d
}

func (c *client) note(format string, args ...any) {
	if c.sess != nil {
		c.sess.Notef(format, args...)
	}
}

func (c *client) isAnon() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.anon
}

func (c *client) userName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

func (c *client) transferStarted() { c.touch() }

// close releases the roots of a logged-in client (closed once the
// transfers under way have ended).
func (c *client) close() {
	c.mu.Lock()
	fs, pub := c.fs, c.pub
	c.fs, c.pub = nil, nil
	c.mu.Unlock()
	if fs != nil {
		fs.release()
	}
	if pub != nil {
		pub.release()
	}
}

// transfer is the handle of one RETR, STOR or APPE: it counts bytes,
// enforces the upload limits and reports the result on the control
// session.
type transfer struct {
	f      *os.File
	client *client
	fs     *rootFs
	rel    string // the file's name in fs.root
	// replaces: the upload created the file or truncated it; a refused
	// upload then removes it instead of restoring its old size.
	replaces bool
	// tmp is the temporary name a replacing upload is written to (empty
	// otherwise): renamed to rel on success, removed on failure.
	tmp   string
	name  string
	write bool

	pos       int64 // file offset where the transfer started
	n         int64 // bytes read from or written to the file
	maxFile   int64 // 0: no limit
	quotaLeft int64 // -1: no quota
	exceeded  bool
	failed    error
	closed    bool
}

var _ ftpserver.FileTransferError = (*transfer)(nil)

func (t *transfer) Read(p []byte) (int, error) {
	n, err := t.f.Read(p)
	t.n += int64(n)
	t.client.touch()
	if err != nil && err != io.EOF {
		err = clean(err)
	}
	return n, err
}

// allowed is how many of the next want bytes of an upload the file size
// limit and the quota let through.
func (t *transfer) allowed(want int64) int64 {
	if t.maxFile > 0 && t.pos+t.n+want > t.maxFile {
		want = max(t.maxFile-t.pos-t.n, 0)
	}
	if t.quotaLeft >= 0 && t.n+want > t.quotaLeft {
		want = max(t.quotaLeft-t.n, 0)
	}
	return want
}

func (t *transfer) Write(p []byte) (int, error) {
	allowed := t.allowed(int64(len(p)))
	n, err := t.f.Write(p[:allowed])
	t.n += int64(n)
	t.client.touch()
	if err != nil {
		return n, clean(err)
	}
	if allowed < int64(len(p)) {
		t.exceeded = true
		return n, ftpserver.ErrStorageExceeded
	}
	return n, nil
}

// zeroCopyChunk bounds one sendfile/splice call, so that the idle clock
// and the byte count follow a long transfer: only a transfer slower than
// 1 MiB per idle timeout (3.5 KB/s at the default 5 minutes) could be taken
// for idle.
const zeroCopyChunk = 1 << 20

// touchReader keeps the idle clock current on every read of a transfer that
// cannot take the zero-copy path.
type touchReader struct {
	r io.Reader
	c *client
}

func (t touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.c.touch()
	return n, err
}

// WriteTo serves a download as io.Copy(dataConn, transfer) does, but hands
// the *os.File itself to the connection's ReadFrom, so that the kernel
// sends it with sendfile(2) (the recording conn passes it through).
func (t *transfer) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{t})
	}
	var total int64
	for {
		n, err := rf.ReadFrom(&io.LimitedReader{R: t.f, N: zeroCopyChunk})
		total += n
		t.n += n
		t.client.touch()
		if err != nil || n < zeroCopyChunk {
			return total, err
		}
	}
}

// ReadFrom takes an upload as io.Copy(transfer, dataConn) does, under the
// same size limit and quota as Write, letting the file splice(2) straight
// from the socket when the reader is one.
func (t *transfer) ReadFrom(r io.Reader) (int64, error) {
	// The kernel path sees through one *io.LimitedReader only.
	src, left := r, int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	if _, ok := src.(syscall.Conn); !ok {
		src = touchReader{src, t.client}
	}
	var total int64
	for left != 0 {
		want := int64(zeroCopyChunk)
		if left > 0 {
			want = min(want, left)
		}
		allowed := t.allowed(want)
		if allowed == 0 {
			// At the limit: one more byte means the upload exceeds it.
			var b [1]byte
			n, err := io.ReadFull(src, b[:])
			if n > 0 {
				t.exceeded = true
				return total, ftpserver.ErrStorageExceeded
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return total, err
		}
		n, err := t.f.ReadFrom(&io.LimitedReader{R: src, N: allowed})
		total += n
		t.n += n
		if left > 0 {
			left -= n
		}
		t.client.touch()
		if err != nil {
			return total, clean(err)
		}
		if n < allowed {
			return total, nil
		}
	}
	return total, nil
}

func (t *transfer) Seek(offset int64, whence int) (int64, error) {
	p, err := t.f.Seek(offset, whence)
	if err != nil {
		return p, clean(err)
	}
	if t.n == 0 && !t.write {
		t.pos = p
	}
	return p, nil
}

func (t *transfer) TransferError(err error) { t.failed = err }

func (t *transfer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	if t.exceeded {
		// A refused upload leaves nothing behind: the file as it was
		// before (resume, APPE) or no file at all.
		if !t.replaces {
			_ = t.f.Truncate(t.pos)
		}
	}
	closeErr := t.f.Close()
	err := clean(closeErr)
	switch {
	case t.tmp != "" && (t.exceeded || t.failed != nil || closeErr != nil):
		_ = t.fs.root.Remove(t.tmp)
	case t.tmp != "":
		if rerr := replaceFile(t.fs.root, t.tmp, t.rel); rerr != nil {
			_ = t.fs.root.Remove(t.tmp)
			err = clean(rerr)
		}
	case t.exceeded && t.replaces:
		_ = t.fs.root.Remove(t.rel)
	}
	t.fs.endTransfer()
	c := t.client
	c.touch()
	verb := "download"
	if t.write {
		verb = "upload"
	}
	result := "complete"
	switch {
	case t.exceeded:
		result = "refused: size limit or quota reached (552)"
	case t.failed != nil:
		result = "aborted"
	}
	from := ""
	if t.pos > 0 {
		from = " from offset " + strconv.FormatInt(t.pos, 10)
	}
	c.note("%s %s: %d bytes%s, %s", verb, t.name, t.n, from, result)
	c.log.Info("ftp transfer", "user", c.userName(), "op", verb, "file", t.name, "bytes", t.n, "offset", t.pos, "result", result)
	if t.exceeded {
		return ftpserver.ErrStorageExceeded
	}
	return err
}

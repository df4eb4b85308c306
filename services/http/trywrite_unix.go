//go:build unix

package http

import (
	"syscall"

	"labd/internal/sessions"
)

// A write that fits in the socket's send buffer never waits, so the
// write timeout net/http sets for every request need not be armed for
// it: arming and removing the runtime timer was about 5% of a
// Connection: close request. A captureConn over a recording conn over a
// TCP socket first writes without waiting (write(2) on the non-blocking
// socket, through its RawConn); only what is left when the socket would
// block goes through the blocking Write, with the deadline armed
// (startWrite).
type directWrite struct {
	raw syscall.RawConn
	rec *sessions.Conn
	fn  func(fd uintptr) bool // tryWriteFd, bound once
	b   []byte
	n   int
	err error
}

// initDirect prepares the direct write when c is a recording conn over
// a socket.
func (c *captureConn) initDirect() {
	rec, ok := c.Conn.(*sessions.Conn)
	if !ok {
		return
	}
	sc, ok := rec.NetConn().(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	d := &directWrite{raw: raw, rec: rec}
	d.fn = d.tryWriteFd
	c.direct = d
}

// tryWrite writes as much of b as the socket takes at once; done says
// all of it went. A part is finished on the socket itself with the
// deadline armed, so that the session records the whole as one write, as
// Write of the recording conn does.
func (c *captureConn) tryWrite(b []byte) (n int, done bool, err error) {
	d := c.direct
	if d == nil || d.rec.FaultsActive() {
		return 0, false, nil
	}
	d.b, d.n, d.err = b, 0, nil
	rerr := d.raw.Write(d.fn)
	n, werr := d.n, d.err
	d.b, d.err = nil, nil
	if rerr == nil && werr == nil && n == len(b) {
		d.rec.RecordWrite(b)
		return n, true, nil
	}
	if n == 0 {
		return 0, false, nil // all of it through the recording conn
	}
	if err = c.startWrite(); err == nil {
		sock := d.rec.NetConn()
		var m int
		m, err = sock.Write(b[n:])
		n += m
		for err != nil && n < len(b) && c.resume(&c.wd, err, c.Conn.SetWriteDeadline) {
			m, err = sock.Write(b[n:])
			n += m
		}
		c.endWrite()
	}
	d.rec.RecordWrite(b[:n])
	return n, true, err
}

// tryWriteFd never waits: it returns true whatever write(2) said.
func (d *directWrite) tryWriteFd(fd uintptr) bool {
	for d.n < len(d.b) {
		m, err := syscall.Write(int(fd), d.b[d.n:])
		if err == syscall.EINTR {
			continue
		}
		if m > 0 {
			d.n += m
		}
		if err != nil || m <= 0 {
			d.err = err
			if err == nil {
				d.err = syscall.EAGAIN
			}
			break
		}
	}
	return true
}

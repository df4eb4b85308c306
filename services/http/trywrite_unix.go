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

// tryWrite writes as much of b as the socket takes at once, recorded in
// the session; done says all of it went.
func (c *captureConn) tryWrite(b []byte) (n int, done bool) {
	d := c.direct
	if d == nil || d.rec.FaultsActive() {
		return 0, false
	}
	d.b, d.n, d.err = b, 0, nil
	err := d.raw.Write(d.fn)
	n, werr := d.n, d.err
	d.b, d.err = nil, nil
	d.rec.RecordWrite(b[:n])
	return n, err == nil && werr == nil && n == len(b)
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

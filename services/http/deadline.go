package http

import (
	"errors"
	"os"
	"time"
)

// net/http moves a connection's deadlines eight times per request (the
// read timeout, the background read started and stopped, the write
// timeout set and cleared, the idle timeout), each a timer update in the
// runtime's poller: about 5% of a keep-alive request. A captureConn
// keeps them lazily instead: a deadline is armed on the socket only when
// it must fire sooner than the one already armed; a later one, or none,
// leaves the armed one in place, and if that one fires first, Read or
// Write arms the deadline wanted and carries on. A read or write thus
// never ends before its deadline, only wakes early now and then.
//
// A read deadline before the connection began, set while no Read is
// under way, is not armed either: the next Read fails at once
// (startRead). That is how net/http stops the background read it starts
// for every request, which on a busy connection has mostly not begun
// reading yet when the answer is written: without it, two timer updates
// per request (arming the past deadline, then the next request's read
// timeout again).
//
// A write deadline is armed only by a Write that must wait
// (startWrite): one the socket takes at once is written without waiting
// first (trywrite_unix.go), so a short connection's answer arms no
// timer. While a Write waits, an earlier deadline is armed at once.

// lazyDeadline is one direction's deadline: want is the last one set,
// armed the one on the socket (zero: none).
type lazyDeadline struct{ want, armed time.Time }

// SetDeadline implements net.Conn (both directions go through the lazy
// bookkeeping: arming the socket beneath it directly would leave it
// wrong).
func (c *captureConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (c *captureConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(&c.rd, t, c.Conn.SetReadDeadline)
}

// SetWriteDeadline implements net.Conn.
func (c *captureConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(&c.wd, t, c.Conn.SetWriteDeadline)
}

func (c *captureConn) setDeadline(d *lazyDeadline, t time.Time, set func(time.Time) error) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	d.want = t
	switch {
	case t.IsZero():
		// No deadline: the armed one, if any, at worst wakes a read
		// or write that then resumes.
		return nil
	case d == &c.wd && c.writing == 0:
		// Armed by the next Write that must wait (startWrite); one
		// that does not wait needs none.
		return nil
	case d == &c.rd && c.reading == 0 && t.Before(c.accepted):
		// Passed (net/http's "a long time ago"), and no Read to wake:
		// the next one fails at once. Compared with the connection's
		// start, not the clock: time.Now in every call was 2% of a
		// keep-alive request.
		return nil
	case !d.armed.IsZero() && !t.Before(d.armed):
		// The armed deadline comes first; if it has passed already,
		// the read or write it ends resumes with the one wanted.
		return nil
	}
	if err := set(t); err != nil {
		return err
	}
	d.armed = t
	return nil
}

// resume says whether an operation that failed with err should be tried
// again: the socket's deadline fired, but the deadline wanted is later
// (or none), and is now armed.
func (c *captureConn) resume(d *lazyDeadline, err error, set func(time.Time) error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if d.armed.Equal(d.want) || !d.want.IsZero() && !time.Now().Before(d.want) {
		return false // the deadline wanted has passed
	}
	if set(d.want) != nil {
		return false
	}
	d.armed = d.want
	return true
}

// syncDeadline arms the deadline wanted, before an operation that cannot
// be resumed in the middle (sendfile).
func (c *captureConn) syncDeadline(d *lazyDeadline, set func(time.Time) error) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if d.armed.Equal(d.want) {
		return nil
	}
	if err := set(d.want); err != nil {
		return err
	}
	d.armed = d.want
	return nil
}

// sooner says whether the deadline wanted must be armed before a Read or
// Write: there is one, and it comes before the armed one (or none is).
func (d *lazyDeadline) sooner() bool {
	return !d.want.IsZero() && (d.armed.IsZero() || d.want.Before(d.armed))
}

// startRead begins a Read: it fails at once if the read deadline wanted
// has passed but was not armed (setDeadline), and arms one that must fire
// before the armed one. endRead ends it.
func (c *captureConn) startRead() error {
	return c.start(&c.rd, &c.reading, c.Conn.SetReadDeadline)
}

func (c *captureConn) endRead() {
	c.dmu.Lock()
	c.reading--
	c.dmu.Unlock()
}

// writeWouldArm says whether a Write now would have to arm the write
// deadline on the socket (startWrite), one that has not passed.
func (c *captureConn) writeWouldArm() bool {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.wd.sooner() && time.Now().Before(c.wd.want)
}

// startWrite begins a Write that may wait: it fails at once if the write
// deadline wanted has passed, and arms it if it must fire before the
// armed one. endWrite ends it. While one is under way, an earlier
// deadline set is armed at once (setDeadline).
func (c *captureConn) startWrite() error {
	return c.start(&c.wd, &c.writing, c.Conn.SetWriteDeadline)
}

// start is startRead and startWrite: d is the direction's deadline, ops
// counts its operations under way, set arms its deadline on the socket.
func (c *captureConn) start(d *lazyDeadline, ops *int, set func(time.Time) error) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if d.sooner() {
		if !time.Now().Before(d.want) {
			return os.ErrDeadlineExceeded
		}
		if err := set(d.want); err != nil {
			return err
		}
		d.armed = d.want
	}
	*ops++
	return nil
}

func (c *captureConn) endWrite() {
	c.dmu.Lock()
	c.writing--
	c.dmu.Unlock()
}

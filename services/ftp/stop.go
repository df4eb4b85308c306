package ftp

import (
	"io"
	"strings"
	"time"

	"labd/internal/service"
)

// When labd stops, a control connection with nothing under way (no
// command being answered, no transfer) ends at once with 421, instead of
// holding the stop for the whole grace period: FileZilla and other
// graphical clients keep their control connection open, idle, for as
// long as the site is open. A transfer under way finishes first, as the
// grace period promises, and its connection gets the 421 after the
// transfer's last reply.
//
// "Nothing under way" is the control connection blocked reading at the
// start of a line, with no transfer command (RETR, STOR, LIST...) since
// its final reply: ftpserverlib runs a transfer in a goroutine of its own
// and reads the next command meanwhile (ABOR), and answers every other
// command before it reads again. Such a connection is woken; what its
// client sent since is dropped unread and never run after the 421.

// stopReply is RFC 959's "service not available, closing control
// connection", which any reply may be when the server must shut down.
const stopReply = "421 Service not available, closing control connection: labd is stopping, try again in a moment.\r\n"

// stopIdle says labd is stopping and wakes every control connection
// waiting for its client's next command with no transfer under way.
func (s *Service) stopIdle() {
	s.stopping.Store(true)
	s.clients.Range(func(_, v any) bool {
		if cc := v.(*client).ctrl; cc != nil {
			cc.stopIfWaiting()
		}
		return true
	})
}

// stopIfWaiting wakes a Read waiting for the next command with no
// transfer under way, if it claims the wait before that Read returns;
// the Read then ends the connection. No lock: a Read marks itself
// waiting before it reads stopping and transferOpen, the stop sets
// stopping and a transfer's final reply clears transferOpen before each
// calls this, so one of them sees both, and the compare-and-swap lets
// only one side (the Read, or one waker) decide.
func (c *ctrlConn) stopIfWaiting() {
	if !c.transferOpen.Load() && c.waiting.CompareAndSwap(true, false) {
		_ = c.lower().SetReadDeadline(time.Unix(1, 0))
	}
}

// waitForLine is called by Read before it waits for more of the client's
// input. watched: the wait is at the start of a line (nothing pending),
// where the stop may claim it; stop: labd is stopping and the connection
// must end instead.
func (c *ctrlConn) waitForLine() (watched, stop bool) {
	if c.stopping == nil || len(c.pending) > 0 {
		return false, false
	}
	c.waiting.Store(true)
	if c.stopping.Load() && !c.transferOpen.Load() {
		c.waiting.Store(false)
		return true, true
	}
	return true, false
}

// endForStop writes the 421 and ends the connection without resetting
// it: the library sees the client hang up.
func (c *ctrlConn) endForStop() (int, error) {
	c.client.note("labd is stopping: closing the control connection (421)")
	_, _ = c.Write([]byte(stopReply))
	service.Linger(c.lower())
	return 0, io.EOF
}

// transferReplied follows the replies of a transfer command: its final
// reply (2xx, 4xx, 5xx; not a STAT or HELP reply sent during it) ends it,
// and a connection waiting for the next command is then woken if labd is
// stopping.
func (c *ctrlConn) transferReplied(p []byte) {
	if !c.transferOpen.Load() || len(p) < 4 || p[3] != ' ' {
		return
	}
	code := string(p[:3])
	switch {
	case code[0] == '2' && !strings.HasPrefix(code, "21"), code[0] == '4', code[0] == '5':
		c.transferOpen.Store(false)
		if c.stopping.Load() {
			c.stopIfWaiting()
		}
	}
}

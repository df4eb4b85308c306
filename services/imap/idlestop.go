package imap

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"labd/internal/service"
)

// idleStop ends, when labd stops, the connections that are between two
// commands, at once rather than at the end of the grace period: a mail
// client keeps its connections open, idle or in IDLE, for as long as it
// runs (Thunderbird holds several), so without this every restart of
// labd during a class waited for server.grace_period. A connection in
// the middle of a command (an APPEND being stored, a FETCH being sent)
// finishes it first, as the grace period promises.
//
// "Between two commands" is the front filter blocked reading at the start
// of a command line with nothing unread: the library reads the next
// command only once it has answered the last one, except in IDLE and
// AUTHENTICATE, which wait for the client's next line and which a BYE may
// end (RFC 9051 7.1.5: the server may send BYE at any time). Such a
// connection is woken, and whatever its client sent since is dropped
// unread: the client gets `* BYE [UNAVAILABLE]` and the library never
// sees a command it would run after the BYE. A connection that was in
// the middle of a command gets the same BYE at its next read.
type idleStop struct {
	stopping atomic.Bool // read at every command: no lock
	mu       sync.Mutex
	conns    map[*frontConn]struct{}
}

func newIdleStop() *idleStop { return &idleStop{conns: map[*frontConn]struct{}{}} }

func (s *idleStop) add(f *frontConn) {
	s.mu.Lock()
	s.conns[f] = struct{}{}
	s.mu.Unlock()
}

func (s *idleStop) remove(f *frontConn) {
	s.mu.Lock()
	delete(s.conns, f)
	s.mu.Unlock()
}

// stop says labd is stopping and wakes the connections waiting between
// two commands. It takes no connection's lock: a connection's lock is
// held while it writes the filter's own answers, for up to their 30 s
// write deadline each, so a client that does not read them (or reads
// one now and then) would hold the stop, and the drain's grace period
// would never begin. Instead a connection marks itself waiting, then
// reads stopping; stop sets stopping, then claims the waiting ones
// (sequentially consistent atomics: either the connection sees
// stopping, or stop sees it waiting). Whoever clears waiting first
// decides: stop, and the woken Read ends the connection; the Read, and
// it goes on with what it read, and meets stopping at the next command.
func (s *idleStop) stop() {
	s.stopping.Store(true)
	s.mu.Lock()
	conns := make([]*frontConn, 0, len(s.conns))
	for f := range s.conns {
		conns = append(conns, f)
	}
	s.mu.Unlock()
	for _, f := range conns {
		f.stopIfWaiting()
	}
}

// atCommandStart reports whether the filter is blocked at the start of a
// command with nothing unread (under c.mu).
func (c *frontConn) atCommandStart() bool {
	return c.state == frontStart && len(c.in) == 0 && len(c.out) == 0 && !c.drop
}

// stopIfWaiting wakes a Read waiting between two commands, if stop claims
// it before the Read returns; that Read then ends the connection with BYE
// (see Read). It also wakes a 993 connection the library has not read
// from yet: its greeting starts the TLS handshake, which waits for the
// client's hello with no deadline (a student's `telnet host 993` held
// the drain for the whole grace period); the handshake fails, and the
// library closes the connection. Its first Read, if it comes, sees
// stopping (it clears greeting before it reads stopping) and says BYE.
// Only 993's: on 143 a connection the library has not read from is the
// preGreeter's, which says BYE itself (a deadline would wake its wait
// and close it without a word). It does not block.
func (c *frontConn) stopIfWaiting() {
	if c.waiting.CompareAndSwap(true, false) || c.greeting.Load() {
		// A deadline already past: the patient conn below passes it
		// as it is (it only raises deadlines still to come).
		_ = c.conn().SetReadDeadline(time.Unix(1, 0))
	}
}

// byeStoppingConn tells the client that labd is stopping and closes the
// connection (under c.mu) without resetting it (service.Linger), reading
// below the command limiter, which would answer what it reads. c.mu is
// kept: idleStop.stop takes no connection's lock.
func (c *frontConn) byeStoppingConn() (int, error) {
	c.wmu.Lock()
	lower := c.conn()
	_ = lower.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = lower.Write([]byte(byeStopping))
	c.wmu.Unlock()
	below := lower
	if u, ok := lower.(interface{ NetConn() net.Conn }); ok {
		below = u.NetConn()
	}
	service.Linger(below)
	lower.Close()
	return 0, net.ErrClosed
}

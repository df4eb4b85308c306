// Package imap is labd's IMAP server (RFC 3501 IMAP4rev1 with UIDPLUS,
// MOVE, NAMESPACE, UNSELECT, IDLE, CHILDREN, SPECIAL-USE attributes) on 143
// (STARTTLS) and 993 (implicit TLS), built on go-imap/v2 imapserver over the
// shared mail store: what SMTP delivers and what POP3 deletes is seen at once
// by selected IMAP sessions, through one MailboxTracker per mailbox fed by
// the store's committed events.
package imap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"labd/config"
	"labd/internal/i18n"
	"labd/internal/netconn"
	"labd/internal/service"
	"labd/internal/store"
)

// Service is the IMAP server.
type Service struct {
	cfg   config.IMAP
	deps  service.Deps
	log   *slog.Logger
	group *service.Group
	srv   *imapserver.Server

	// AuthFailDelay is slept after a failed login (tests shrink it).
	AuthFailDelay time.Duration
	// MaxAuthFailures closes the connection after that many failed logins.
	MaxAuthFailures int

	boxes  *boxes
	parsed *parseCache
	bodies *bodyCache
	idle   *idleStop
	cancel func()
	// ready replaces the library's "IMAP server ready" in the greeting
	// when server.language is not English ("" keeps it).
	ready string
}

// New builds the service from deps.Config.IMAP.
func New(deps service.Deps) (service.Service, error) { return NewService(deps) }

// NewService is New with the concrete type (tests set the delays).
func NewService(deps service.Deps) (*Service, error) {
	s := &Service{
		cfg: deps.Config.IMAP, deps: deps, log: deps.Logger, group: service.NewGroup(deps),
		AuthFailDelay: time.Second, MaxAuthFailures: 3,
	}
	if tr := i18n.New(deps.Config.Server.Lang()); tr.Lang() != "en" {
		s.ready = tr.ASCII("IMAP server ready")
	}
	s.boxes = newBoxes(deps.Store)
	s.idle = newIdleStop()
	s.parsed = newParseCache(parseCacheBytes)
	s.bodies = newBodyCache(int(min(deps.Config.IMAP.BodyCache(), 1<<40)))
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapNamespace: {},
			imap.CapChildren: {}, imap.CapSpecialUse: {},
		},
		Logger: logAdapter{s.log},
		// Only so that the library advertises STARTTLS: the front filter
		// answers the command and puts TLS under itself (front.go). The
		// library never sees a *tls.Conn (the filter sits above TLS on
		// every port): require_tls_for_auth is enforced by the session
		// and LOGINDISABLED advertised by the filter.
		TLSConfig:    deps.TLS.Config(),
		InsecureAuth: true,
	})
	return s, nil
}

type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, args ...any) {
	a.l.Debug("imapserver: " + fmt.Sprintf(format, args...))
}

// Name implements service.Service.
func (s *Service) Name() string { return "imap" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	reject := func(c net.Conn) {
		fmt.Fprintf(c, "* BYE [UNAVAILABLE] too many connections from your address (at most %d), try again later\r\n", s.cfg.MaxConnsPerIP)
	}
	patient := func(ln net.Listener) net.Listener {
		return &patientListener{Listener: ln, min: time.Duration(s.cfg.IdleTimeout)}
	}
	front := func(ln net.Listener) net.Listener {
		return &frontListener{Listener: patient(ln), requireTLS: s.cfg.RequireTLSForAuth, tlsConf: s.deps.TLS.Config(), maxLiteral: s.maxLiteral(), ready: s.ready,
			pre: newPreGreeter(s.log, s.libraryGreeting), stop: s.idle}
	}
	if _, err := s.group.Listen(service.ListenOptions{Service: "imap", Addrs: s.cfg.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject, Wrap: front}); err != nil {
		return nil, err
	}
	if _, err := s.group.Listen(service.ListenOptions{Service: "imaps", Addrs: s.cfg.TLSListen, MaxPerIP: s.cfg.MaxConnsPerIP, TLS: s.deps.TLS.Config(), Wrap: patient}); err != nil {
		s.group.Close()
		return nil, err
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	s.cancel = s.deps.Store.Subscribe(func(ev store.Event) {
		s.boxes.onEvent(ev)
		switch ev.Kind {
		case store.MessageExpunged:
			s.parsed.drop(msgKey{ev.MailboxID, ev.UID})
			s.bodies.drop(msgKey{ev.MailboxID, ev.UID})
		case store.MailboxDeleted:
			if ev.MailboxID != 0 {
				s.parsed.dropBox(ev.MailboxID)
				s.bodies.dropBox(ev.MailboxID)
			}
		}
	})
	defer s.cancel()
	return s.group.ServeEach(ctx, func(b *service.Bound) error {
		ln := b.Listener
		if b.Endpoint.TLS {
			// 993: the limiter and front filter above TLS, on the
			// plaintext, as on 143 (where they put TLS under themselves
			// at STARTTLS).
			ln = &frontListener{Listener: ln, overTLS: true, maxLiteral: s.maxLiteral(), ready: s.ready, stop: s.idle}
		}
		err := s.srv.Serve(ln)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	})
}

// Shutdown implements service.Service.
func (s *Service) Shutdown(ctx context.Context) error {
	s.idle.stop()
	s.group.Drain(ctx)
	return nil
}

// patientListener hands out patientConns: imapserver closes a connection
// whose command line is not complete after 30 s (and an unauthenticated
// one idle for 60 s), far too short for a student typing by hand. It sits
// below TLS (ListenOptions.Wrap), so 993 and STARTTLS get the relaxed
// deadlines too.
type patientListener struct {
	net.Listener
	min time.Duration
}

func (l *patientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &patientConn{Conn: c, min: l.min, ack: newQuickAcker(c)}, nil
}

type patientConn struct {
	net.Conn
	min   time.Duration
	blank blankFilter
	ack   quickAcker

	// While gathering (see gatherWrites) writes collect in gathered,
	// under wmu. Otherwise they go straight down without the lock: the
	// writers above (go-imap's encoder, TLS) already write one at a time,
	// and a write blocked on a client that does not read must not hold up
	// a read.
	gathering atomic.Bool
	wmu       sync.Mutex
	gathered  *[]byte

	// While gathering, the write deadlines asked for are held here and
	// given to the socket only before a real write (see
	// SetWriteDeadline), under dmu: go-imap moves the deadline four
	// times per message of a FETCH.
	dmu     sync.Mutex
	wdl     time.Time // the last deadline asked for
	wdlNew  bool      // asked for since the last real write
	wdlHeld bool      // asked for during this gathering
}

// gatherWriteTimeout bounds a gathered write when the deadline last
// asked for is none: go-imap clears it after each response, which it
// believes written, and asks for 30 s (respWriteTimeout) before the next.
const gatherWriteTimeout = 30 * time.Second

// gatherSize bounds what a gathering connection holds before it writes.
const gatherSize = 64 << 10

var gatherPool = sync.Pool{New: func() any { b := make([]byte, 0, gatherSize); return &b }}

// gatherWrites makes the writes to c's patientConn (under TLS, the command
// limiter and the front filter, so that every writer above goes through
// it in order) collect into 64 KiB writes, with the socket corked
// (quickack_linux.go), until the returned function writes what is left,
// uncorks and stops it. go-imap writes a FETCH response in
// three or four pieces per message, each a system call: about 3,000 for
// a full-body FETCH of 1,000 messages, most of its time. Without a
// patientConn below c (tests over net.Pipe), nothing changes.
func gatherWrites(c net.Conn) (release func() error) {
	pc, ok := netconn.Find[*patientConn](c)
	if !ok {
		return func() error { return nil }
	}
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	if pc.gathered != nil {
		return func() error { return nil }
	}
	pc.gathered = gatherPool.Get().(*[]byte)
	pc.gathering.Store(true)
	pc.ack.cork(true)
	return pc.stopGathering
}

func (c *patientConn) stopGathering() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := c.flushLocked()
	c.ack.cork(false)
	c.gathering.Store(false)
	// The socket gets the deadline last asked for, as if never held.
	c.dmu.Lock()
	t, held := c.wdl, c.wdlHeld
	c.wdlHeld, c.wdlNew = false, false
	c.dmu.Unlock()
	if held {
		if derr := c.Conn.SetWriteDeadline(t); err == nil {
			err = derr
		}
	}
	if c.gathered != nil {
		*c.gathered = (*c.gathered)[:0]
		gatherPool.Put(c.gathered)
		c.gathered = nil
	}
	return err
}

// flushLocked writes what was gathered; wmu is held.
func (c *patientConn) flushLocked() error {
	if c.gathered == nil || len(*c.gathered) == 0 {
		return nil
	}
	if err := c.heldDeadline(); err != nil {
		return err
	}
	_, err := c.Conn.Write(*c.gathered)
	*c.gathered = (*c.gathered)[:0]
	return err
}

// heldDeadline gives the socket, before a real write while gathering,
// the write deadline last asked for, or gatherWriteTimeout from now if
// that is none: what is written was written under a deadline.
func (c *patientConn) heldDeadline() error {
	c.dmu.Lock()
	t, fresh := c.wdl, c.wdlNew
	c.wdlNew = false
	c.dmu.Unlock()
	if !fresh {
		return nil
	}
	if t.IsZero() {
		t = time.Now().Add(gatherWriteTimeout)
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetWriteDeadline holds the deadline while gathering (see
// heldDeadline); otherwise it goes to the socket at once.
func (c *patientConn) SetWriteDeadline(t time.Time) error {
	if c.gathering.Load() {
		c.dmu.Lock()
		c.wdl, c.wdlNew, c.wdlHeld = t, true, true
		c.dmu.Unlock()
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *patientConn) Write(b []byte) (int, error) {
	if !c.gathering.Load() {
		return c.Conn.Write(b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.gathered == nil {
		return c.Conn.Write(b)
	}
	if len(*c.gathered)+len(b) > gatherSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(b) >= gatherSize {
			if err := c.heldDeadline(); err != nil {
				return 0, err
			}
			return c.Conn.Write(b)
		}
	}
	*c.gathered = append(*c.gathered, b...)
	return len(b), nil
}

// Read drops blank command lines: imapserver treats an empty line (a
// student pressing Enter twice in nc) as fatal and closes the connection.
//
// It also acknowledges literal data at once. A client that writes an
// APPEND literal and its closing CRLF separately (python's imaplib does)
// holds the 2-byte CRLF back under Nagle's algorithm until the literal is
// ACKed, while the kernel delays that ACK (up to 40 ms) hoping to piggyback
// it on a reply that cannot come before the CRLF: 42 ms per APPEND.
func (c *patientConn) Read(b []byte) (int, error) {
	if c.gathering.Load() {
		// Nothing gathered may wait for the client's next words.
		c.wmu.Lock()
		err := c.flushLocked()
		c.wmu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	for {
		n, err := c.Conn.Read(b)
		if n > 0 {
			c.blank.litEnded = false
			n = len(c.blank.filter(b[:n]))
			if c.blank.off || c.blank.state == 2 || c.blank.litEnded {
				c.ack.now()
			}
			if n == 0 && err == nil {
				continue
			}
		}
		return n, err
	}
}

// NetConn lets sessions.FromConn find the recording conn below.
func (c *patientConn) NetConn() net.Conn { return c.Conn }

func (c *patientConn) SetReadDeadline(t time.Time) error {
	// A deadline already past wakes a blocked read (idleStop): it passes.
	if d := time.Until(t); !t.IsZero() && c.min > 0 && d > 0 && d < c.min {
		t = time.Now().Add(c.min)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *patientConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// blankFilter drops empty command lines. It follows literals ({n}, {n+} or
// {n-} at the end of a line) so that message data passes untouched, and
// turns itself off for good when a TLS handshake starts (STARTTLS, or the
// implicit-TLS port), since it then sits under the TLS layer.
type blankFilter struct {
	off bool
	// litEnded is set when a literal ended in the last filtered chunk.
	litEnded bool
	state    int // 0: start of a line, 1: in a line, 2: in a literal
	lit      int64
	tail     []byte
}

func (f *blankFilter) filter(b []byte) []byte {
	if f.off {
		return b
	}
	out := b[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch f.state {
		case 2:
			n := min(int64(len(b)-i), f.lit)
			out = append(out, b[i:i+int(n)]...)
			i += int(n) - 1
			f.lit -= n
			if f.lit == 0 {
				f.state = 1
				f.litEnded = true
			}
			continue
		case 0:
			if c == 0x16 {
				f.off = true
				return append(out, b[i:]...)
			}
			if c == '\r' || c == '\n' {
				continue
			}
			f.state = 1
		}
		out = append(out, c)
		if c != '\n' {
			if len(f.tail) >= 64 {
				f.tail = append(f.tail[:0], f.tail[32:]...)
			}
			f.tail = append(f.tail, c)
			continue
		}
		f.state = 0
		if n, _, ok := literalAtEnd(f.tail); ok && n > 0 {
			f.state, f.lit = 2, n
		} else if ok && n == 0 {
			f.state = 1
		}
		f.tail = f.tail[:0]
	}
	return out
}

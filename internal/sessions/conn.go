package sessions

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"labd/internal/netconn"
)

// Conn is an accepted connection that counts and records what crosses it.
// It sits directly on the socket, under any TLS layer, so that libraries that
// detect TLS by asserting *tls.Conn still see one.
type Conn struct {
	net.Conn
	sess *Session
	once sync.Once
	// ln, if not nil, is the Listener that accepted the connection and
	// keeps its counts (release on Close, login on SetUser); ip is the
	// client address it counts it under. Fields rather than closures: two
	// allocations less per connection.
	ln *Listener
	ip netip.Addr
	// fault is the state of the teacher's TCP faults on this connection.
	fault faultState

	// Fairness state (see ListenerOptions): lineStart is when the command
	// line being received began (UnixNano, 0 between lines), user is set
	// once the session logged in, loginTimer closes it if it never does.
	lineStart  atomic.Int64
	loggedIn   atomic.Bool
	user       string // guarded by the listener's mu
	loginTimer *time.Timer
}

// Wrap registers c as a session of proto and returns the recording conn.
func Wrap(r *Registry, proto string, c net.Conn) *Conn {
	rc := newConn(r, proto, c, c.LocalAddr().String())
	r.register(rc.sess)
	return rc
}

// newConn is the recording conn of c, its session not registered yet:
// the caller completes it first, so that no kill or login from the
// registry finds it half made.
func newConn(r *Registry, proto string, c net.Conn, local string) *Conn {
	s := r.newSession(proto, "tcp", local, addrString(c.RemoteAddr()))
	rc := &Conn{Conn: c, sess: s}
	// The session ends the connection itself (Kill), without a closure.
	s.conn = rc
	return rc
}

// addrString is a.String() with fewer steps for a TCP address (one
// allocation instead of three): the same text, an IPv4 address in an
// IPv6 socket shown as IPv4 as net.TCPAddr.String shows it.
func addrString(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return a.String()
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok || ta.Port < 0 || ta.Port > 65535 {
		return a.String()
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ta.Zone != "" {
		if !ip.Is6() {
			return a.String() // net shows "1.2.3.4%zone"
		}
		ip = ip.WithZone(ta.Zone)
	}
	return netip.AddrPortFrom(ip, uint16(ta.Port)).String()
}

// Session returns the registry entry of the connection.
func (c *Conn) Session() *Session { return c.sess }

func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.sess.reg.faults.Any() {
		c.faultRead(n)
	}
	if n > 0 {
		c.trackLine(b[:n])
		c.sess.bytesIn.Add(int64(n))
		c.record(FromClient, b[:n])
	}
	return n, err
}

func (c *Conn) Write(b []byte) (int, error) {
	if c.sess.reg.faults.Any() {
		return c.faultWrite(b)
	}
	return c.write(b)
}

// FaultsActive says whether a teacher's fault is on anywhere: then every
// write must go through Write, which applies the TCP faults.
func (c *Conn) FaultsActive() bool { return c.sess.reg.faults.Any() }

// RecordWrite counts and records b as written to the client, as Write
// does, for bytes the caller wrote to the socket itself (a non-blocking
// attempt through its RawConn). Not while FaultsActive.
func (c *Conn) RecordWrite(b []byte) {
	if len(b) > 0 {
		c.sess.bytesOut.Add(int64(len(b)))
		c.record(FromServer, b)
	}
}

func (c *Conn) write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.sess.bytesOut.Add(int64(n))
		c.record(FromServer, b[:n])
	}
	return n, err
}

func (c *Conn) record(dir Direction, b []byte) {
	s := c.sess
	if !s.tls.Load() {
		// A TLS record header (handshake, version 3.x) from the client
		// starts TLS, whether after STARTTLS or on an implicit-TLS port.
		// No text protocol sends 0x16 at the start of a chunk.
		if dir == FromClient && len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 {
			s.MarkTLS()
			s.clientHello(b)
		} else {
			if !s.full.Load() {
				s.Record(dir, b, false)
			}
			return
		}
	}
	if !s.full.Load() {
		var wire []byte
		if !s.wireOff.Load() {
			wire = append([]byte(nil), b...)
		}
		s.add(Entry{Time: time.Now(), Dir: dir, Len: len(b), TLS: true, Wire: wire})
	}
}

// trackLine notes when an unfinished command line started, for the
// listener's line watchdog.
func (c *Conn) trackLine(b []byte) {
	if c.loggedIn.Load() {
		return
	}
	switch i := bytes.LastIndexByte(b, '\n'); {
	case i == len(b)-1:
		c.lineStart.Store(0)
	case i >= 0 || c.lineStart.Load() == 0:
		c.lineStart.Store(time.Now().UnixNano())
	}
}

// Close closes the socket and ends the session.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.closed)
	return err
}

// closed ends the session and the listener's bookkeeping, once.
func (c *Conn) closed() {
	c.sess.Close("closed")
	if c.ln != nil {
		c.ln.release(c, c.ip)
	}
}

// NetConn returns the underlying socket.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// FromConn finds the session of a connection, looking through wrappers that
// expose NetConn (crypto/tls does). It returns nil for unregistered conns.
func FromConn(c net.Conn) *Session {
	if rc, ok := netconn.Find[*Conn](c); ok {
		return rc.sess
	}
	return nil
}

// ListenerOptions configure Listen.
type ListenerOptions struct {
	// Proto is the protocol name recorded for each session ("smtp", "imaps").
	Proto string
	// MaxPerIP caps simultaneous connections from one client address
	// (0: no cap).
	MaxPerIP int
	// Reject, if set, writes a protocol-correct refusal to a connection over
	// the cap before it is closed ("421 too many connections").
	Reject func(net.Conn)
	Logger *slog.Logger

	// MaxConns caps the connections of the listener (0: no cap); Reject
	// answers those over it too.
	MaxConns int
	// MaxPerUser caps the connections of one logged-in user (0: no cap).
	// A connection leaves the per-address count when it logs in
	// (Session.SetUser) and joins its user's.
	MaxPerUser int
	// LoginTimeout closes a connection that has not logged in by then
	// (0: never).
	LoginTimeout time.Duration
	// LineTimeout closes a connection not logged in that started a line
	// and did not end it within this time (0: no limit): a trickle of a
	// byte every few seconds holds no slot for long. Only for line-based
	// protocols; TLS sessions are exempt (their bytes are not lines).
	LineTimeout time.Duration
}

// Listener wraps a bound listener: every accepted connection is registered,
// recorded and tracked so that shutdown can drain it.
type Listener struct {
	net.Listener
	reg  *Registry
	opts ListenerOptions

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	perIP   map[netip.Addr]int
	perUser map[string]int
	idle    chan struct{} // closed when conns drops to zero; nil if never waited

	stop     chan struct{} // closed by Close: ends the line watchdog
	stopOnce sync.Once

	// local is the text of the last local address accepted on, reused
	// while it stays the same (always, unless the listener is on a
	// wildcard address): one formatting and allocation less per
	// connection.
	local atomic.Pointer[localName]
}

type localName struct {
	ap   netip.AddrPort
	text string
}

// localString returns c's local address as text, as c.LocalAddr().String().
func (l *Listener) localString(c net.Conn) string {
	a := c.LocalAddr()
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return a.String()
	}
	ap := ta.AddrPort()
	if n := l.local.Load(); n != nil && n.ap == ap {
		return n.text
	}
	n := &localName{ap: ap, text: addrString(ta)}
	l.local.Store(n)
	return n.text
}

// Listen wraps ln.
func Listen(r *Registry, ln net.Listener, opts ListenerOptions) *Listener {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Listener{Listener: ln, reg: r, opts: opts, conns: map[*Conn]struct{}{}, perIP: map[netip.Addr]int{},
		perUser: map[string]int{}, stop: make(chan struct{})}
	if opts.LineTimeout > 0 {
		go l.watchLines()
	}
	return l
}

// Close stops accepting and ends the line watchdog.
func (l *Listener) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	return l.Listener.Close()
}

// watchLines closes connections whose current line is overdue.
func (l *Listener) watchLines() {
	tick := max(l.opts.LineTimeout/4, 100*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		limit := time.Now().Add(-l.opts.LineTimeout).UnixNano()
		var late []*Conn
		l.mu.Lock()
		for c := range l.conns {
			if st := c.lineStart.Load(); st != 0 && st < limit && !c.loggedIn.Load() && !c.sess.tls.Load() {
				late = append(late, c)
			}
		}
		l.mu.Unlock()
		for _, c := range late {
			c.sess.Notef("closed: a line took more than %s to arrive (too slow before login)", l.opts.LineTimeout)
			l.opts.Logger.Warn("connection closed: line too slow before login", "service", l.opts.Proto, "remote", c.RemoteAddr().String(), "limit", l.opts.LineTimeout)
			c.Close()
		}
	}
}

// login moves a connection from its address's count to its user's.
func (l *Listener) login(rc *Conn, ip netip.Addr, user string) {
	l.mu.Lock()
	if _, open := l.conns[rc]; !open {
		l.mu.Unlock()
		return
	}
	if rc.loggedIn.Load() {
		if rc.user == user {
			l.mu.Unlock()
			return
		}
		l.perUser[rc.user]--
	} else {
		l.perIP[ip]--
	}
	rc.loggedIn.Store(true)
	rc.lineStart.Store(0)
	rc.user = user
	l.perUser[user]++
	// Anonymous FTP is one "user" for the whole class: no per-user cap.
	over := l.opts.MaxPerUser > 0 && l.perUser[user] > l.opts.MaxPerUser && user != "anonymous"
	l.mu.Unlock()
	if rc.loginTimer != nil {
		rc.loginTimer.Stop()
	}
	if over {
		rc.sess.Notef("closed: %s has more than %d connections to %s", user, l.opts.MaxPerUser, l.opts.Proto)
		l.opts.Logger.Warn("connection closed: per-user limit", "service", l.opts.Proto, "user", user, "remote", rc.RemoteAddr().String(), "limit", l.opts.MaxPerUser)
		rc.Close()
	}
}

// Accept returns the next connection under the per-IP cap. Transient accept
// errors (out of file descriptors) are retried with a backoff instead of
// spinning or failing the whole service.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, err
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			l.opts.Logger.Warn("accept failed, retrying", "service", l.opts.Proto, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		ip := addrIP(c.RemoteAddr())
		rc := newConn(l.reg, l.opts.Proto, c, l.localString(c))
		l.mu.Lock()
		full := l.opts.MaxConns > 0 && len(l.conns) >= l.opts.MaxConns
		over := full || l.opts.MaxPerIP > 0 && l.perIP[ip] >= l.opts.MaxPerIP
		if !over {
			// Counted before the session is registered: a kill from
			// the registry then releases what was counted.
			l.perIP[ip]++
			l.conns[rc] = struct{}{}
			rc.ln, rc.ip = l, ip
		}
		l.mu.Unlock()
		l.reg.register(rc.sess)
		if over {
			if full {
				rc.sess.Notef("refused: %s has %d connections, its limit", l.opts.Proto, l.opts.MaxConns)
				l.opts.Logger.Warn("connection refused: service limit", "service", l.opts.Proto, "remote", c.RemoteAddr().String(), "limit", l.opts.MaxConns)
			} else {
				rc.sess.Notef("refused: more than %d connections from %s not logged in", l.opts.MaxPerIP, ip)
				l.opts.Logger.Warn("connection refused: per-address limit", "service", l.opts.Proto, "remote", c.RemoteAddr().String(), "limit", l.opts.MaxPerIP)
			}
			if l.opts.Reject != nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				l.opts.Reject(rc)
			}
			rc.Close()
			continue
		}
		if d := l.opts.LoginTimeout; d > 0 {
			rc.loginTimer = time.AfterFunc(d, func() {
				if rc.loggedIn.Load() {
					return
				}
				rc.sess.Notef("closed: not logged in after %s", d)
				l.opts.Logger.Info("connection closed: no login in time", "service", l.opts.Proto, "remote", rc.RemoteAddr().String(), "limit", d)
				rc.Close()
			})
		}
		return rc, nil
	}
}

func (l *Listener) release(rc *Conn, ip netip.Addr) {
	if rc.loginTimer != nil {
		rc.loginTimer.Stop()
	}
	l.mu.Lock()
	delete(l.conns, rc)
	if rc.loggedIn.Load() {
		if l.perUser[rc.user]--; l.perUser[rc.user] <= 0 {
			delete(l.perUser, rc.user)
		}
	} else if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
	if len(l.conns) == 0 && l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
	l.mu.Unlock()
}

// Active returns the number of open connections.
func (l *Listener) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Drain waits until every accepted connection is closed or ctx ends; then
// it closes what is left. Close the listener first so that no new
// connection arrives meanwhile.
func (l *Listener) Drain(ctx context.Context) {
	l.mu.Lock()
	if len(l.conns) == 0 {
		l.mu.Unlock()
		return
	}
	if l.idle == nil {
		l.idle = make(chan struct{})
	}
	idle := l.idle
	l.mu.Unlock()
	select {
	case <-idle:
		return
	case <-ctx.Done():
	}
	l.mu.Lock()
	left := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		left = append(left, c)
	}
	l.mu.Unlock()
	for _, c := range left {
		c.sess.Notef("closed by labd shutdown")
		c.Close()
	}
}

func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Host returns the host part of a session's address ("127.0.0.1" of
// "127.0.0.1:4242", "::1" of "[::1]:4242"), or the address itself.
func Host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

package sessions

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Conn is an accepted connection that counts and records what crosses it.
// It sits directly on the socket, under any TLS layer, so that libraries that
// detect TLS by asserting *tls.Conn still see one.
type Conn struct {
	net.Conn
	sess *Session
	once sync.Once
	// onClose is the listener's bookkeeping.
	onClose func(*Conn)
}

// Wrap registers c as a session of proto and returns the recording conn.
func Wrap(r *Registry, proto string, c net.Conn) *Conn {
	s := r.Open(proto, "tcp", c.LocalAddr().String(), c.RemoteAddr().String())
	rc := &Conn{Conn: c, sess: s}
	s.SetKill(func() { rc.Close() })
	return rc
}

// Session returns the registry entry of the connection.
func (c *Conn) Session() *Session { return c.sess }

func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.sess.bytesIn.Add(int64(n))
		c.record(FromClient, b[:n])
	}
	return n, err
}

func (c *Conn) Write(b []byte) (int, error) {
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
		} else {
			if !s.full.Load() {
				s.Record(dir, b, false)
			}
			return
		}
	}
	if !s.full.Load() {
		s.add(Entry{Time: time.Now(), Dir: dir, Len: len(b), TLS: true})
	}
}

// Close closes the socket and ends the session.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.sess.Close("closed")
		if c.onClose != nil {
			c.onClose(c)
		}
	})
	return err
}

// NetConn returns the underlying socket.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// FromConn finds the session of a connection, looking through wrappers that
// expose NetConn (crypto/tls does). It returns nil for unregistered conns.
func FromConn(c net.Conn) *Session {
	for c != nil {
		if rc, ok := c.(*Conn); ok {
			return rc.sess
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
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
}

// Listener wraps a bound listener: every accepted connection is registered,
// recorded and tracked so that shutdown can drain it.
type Listener struct {
	net.Listener
	reg  *Registry
	opts ListenerOptions

	mu    sync.Mutex
	conns map[*Conn]struct{}
	perIP map[netip.Addr]int
	idle  chan struct{} // closed when conns drops to zero; nil if never waited
}

// Listen wraps ln.
func Listen(r *Registry, ln net.Listener, opts ListenerOptions) *Listener {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Listener{Listener: ln, reg: r, opts: opts, conns: map[*Conn]struct{}{}, perIP: map[netip.Addr]int{}}
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
		l.mu.Lock()
		over := l.opts.MaxPerIP > 0 && l.perIP[ip] >= l.opts.MaxPerIP
		if !over {
			l.perIP[ip]++
		}
		l.mu.Unlock()
		rc := Wrap(l.reg, l.opts.Proto, c)
		if over {
			rc.sess.Notef("refused: more than %d connections from %s", l.opts.MaxPerIP, ip)
			l.opts.Logger.Warn("connection refused: per-address limit", "service", l.opts.Proto, "remote", c.RemoteAddr().String(), "limit", l.opts.MaxPerIP)
			if l.opts.Reject != nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				l.opts.Reject(rc)
			}
			rc.Close()
			continue
		}
		rc.onClose = func(rc *Conn) { l.release(rc, ip) }
		l.mu.Lock()
		l.conns[rc] = struct{}{}
		l.mu.Unlock()
		return rc, nil
	}
}

func (l *Listener) release(rc *Conn, ip netip.Addr) {
	l.mu.Lock()
	delete(l.conns, rc)
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
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

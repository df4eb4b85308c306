package imap

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"sync"
	"time"

	"labd/internal/service"
)

// preGreeter keeps connections that have not said anything yet away from
// the library. go-imap gives every connection it accepts a goroutine and
// a 4 KiB bufio reader and writer at once, and its goroutine's stack
// grows to 4 KiB writing the greeting: most of what an idle connection
// cost (13.4 KiB of RSS each, 16 KB of Go heap and stack). On plain 143
// the front listener now writes the library's own greeting itself (the
// same bytes, through the same filter, limiter and recording conn, so
// clients and transcripts see no difference) and waits for the client's
// first bytes without reading them, in a goroutine of its own with a
// small stack and no buffer; only then does it hand the connection to
// the library, whose greeting the front filter drops (frontConn.Write).
// A connection that logged in and went idle is the library's as before.
// 993 (TLS first: the greeting would start the handshake) and systems
// without a socket to wait on take the library's path directly.
type preGreeter struct {
	log *slog.Logger
	// learn returns the library's greeting (see Service.libraryGreeting);
	// greeting is what it returned, nil if it could not tell.
	learn    func() []byte
	greeting []byte

	once  sync.Once
	conns chan net.Conn // greeted connections whose client spoke
	done  chan struct{} // closed when the listener below failed
	err   error         // its error, set before done is closed

	// waiting are the greeted connections whose client has not spoken
	// yet; nil once labd stops, when they are told so and closed: they
	// hold nothing a drain would wait for.
	mu      sync.Mutex
	waiting map[*frontConn]struct{}
}

func newPreGreeter(log *slog.Logger, learn func() []byte) *preGreeter {
	return &preGreeter{log: log, learn: learn, conns: make(chan net.Conn), done: make(chan struct{}),
		waiting: map[*frontConn]struct{}{}}
}

// accept is frontListener.Accept with pre-greeting.
func (p *preGreeter) accept(l *frontListener) (net.Conn, error) {
	p.once.Do(func() { go p.run(l) })
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, p.err
	}
}

// run accepts until the listener below fails. Its errors are final: the
// recording listener retries the transient ones (out of descriptors)
// itself.
func (p *preGreeter) run(l *frontListener) {
	p.greeting = p.learn()
	for {
		c, err := l.acceptFront()
		if err != nil {
			p.err = err
			close(p.done)
			p.stopWaiting()
			return
		}
		f := c.(*frontConn)
		pc, ok := f.plain.(*patientConn)
		if p.greeting == nil || !ok || !pc.ack.canWait() {
			go p.handOff(f)
			continue
		}
		go p.greet(f, pc)
	}
}

// greet writes the greeting, with the library's 30 s deadline for it and
// for the first command (the patientConn raises the latter to
// imap.idle_timeout), then leaves the waiting to a new goroutine: this
// one's stack grew on the way down the writing conns, and Go would keep
// it at that size for as long as the connection waits.
func (p *preGreeter) greet(f *frontConn, pc *patientConn) {
	defer service.Recover(p.log, "imap")
	_ = f.SetWriteDeadline(time.Now().Add(30 * time.Second))
	err := f.greetFirst(p.greeting)
	_ = f.SetWriteDeadline(time.Time{})
	if err == nil {
		err = f.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	if err != nil {
		f.Close()
		return
	}
	go p.await(f, pc)
}

// await hands f to the library once its client sent something (or
// closed); a client silent until the deadline is closed, as the library
// closes it.
func (p *preGreeter) await(f *frontConn, pc *patientConn) {
	p.mu.Lock()
	stopping := p.waiting == nil
	if !stopping {
		p.waiting[f] = struct{}{}
	}
	p.mu.Unlock()
	if stopping {
		p.bye(f)
		return
	}
	err := pc.ack.waitReadable()
	p.mu.Lock()
	delete(p.waiting, f)
	p.mu.Unlock()
	if err != nil {
		f.Close()
		return
	}
	p.handOff(f)
}

// stopWaiting tells the clients that have not spoken yet that labd is
// stopping and closes their connections, at once rather than at the end
// of the drain (the closing wakes their await).
func (p *preGreeter) stopWaiting() {
	p.mu.Lock()
	waiting := p.waiting
	p.waiting = nil
	p.mu.Unlock()
	for f := range waiting {
		p.bye(f)
	}
}

// bye tells f's client that labd is stopping and closes f.
func (p *preGreeter) bye(f *frontConn) {
	_ = f.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = f.Write([]byte(byeStopping))
	f.Close()
}

func (p *preGreeter) handOff(f *frontConn) {
	select {
	case p.conns <- f:
	case <-p.done:
		// labd is stopping (the listener is closed) and the library
		// takes no more connections: a client that spoke during the
		// drain is told so rather than dropped without a word.
		p.bye(f)
	}
}

// byeStopping ends a greeted connection that the library has not taken
// when labd stops.
const byeStopping = "* BYE [UNAVAILABLE] labd is stopping, try again in a moment\r\n"

// libraryGreeting returns the greeting the library writes on a plaintext
// connection, read once from a connection over a pipe. It depends only on
// the server's options: the library never sees a *tls.Conn (the front
// filter sits above TLS), so it is the same for every connection. It
// returns nil if the library did not greet with OK.
func (s *Service) libraryGreeting() []byte {
	srv, cli := net.Pipe()
	ln := &pipeListener{c: srv, closed: make(chan struct{}), addr: srv.LocalAddr()}
	go func() { _ = s.srv.Serve(ln) }()
	defer ln.Close()
	defer cli.Close()
	_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(cli).ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("* OK ")) {
		s.log.Warn("IMAP greeting not learned; connections are greeted by the library (more memory per idle connection)", "greeting", string(line), "err", err)
		return nil
	}
	return append([]byte(nil), line...)
}

// pipeListener accepts one connection, then waits until closed.
type pipeListener struct {
	once   sync.Once
	c      net.Conn
	mu     sync.Mutex
	closed chan struct{}
	addr   net.Addr
}

func (l *pipeListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *pipeListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

package service

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"

	"labd/config"
	"labd/internal/sessions"
)

// Recover, deferred at the top of a connection handler, turns a panic into
// a log line: none of the protocol libraries recovers panics, and one bad
// session must not take the daemon and every other student with it.
func Recover(logger *slog.Logger, service string, attrs ...any) {
	if r := recover(); r != nil {
		args := append([]any{"service", service, "panic", r, "stack", string(debug.Stack())}, attrs...)
		logger.Error("session handler panicked; the session is closed, labd goes on", args...)
	}
}

// Bound is one listener of a Group.
type Bound struct {
	// Listener is what the service accepts from: recording, per-IP capped,
	// and TLS-wrapped for implicit-TLS endpoints.
	Listener net.Listener
	Endpoint Endpoint
	rec      *sessions.Listener
}

// Group holds the TCP listeners of one service, so that each service need
// not repeat binding, cleanup on failure, and draining.
type Group struct {
	deps  Deps
	mu    sync.Mutex
	bound []*Bound
	// handlers counts the goroutines ServeConns started.
	handlers sync.WaitGroup
}

// NewGroup returns an empty group.
func NewGroup(d Deps) *Group { return &Group{deps: d} }

// ListenOptions describe one set of addresses of a Group.
type ListenOptions struct {
	// Service is the endpoint and session protocol name ("smtp", "imaps").
	Service string
	Addrs   []string
	// TLS makes the endpoint implicit TLS (the TLS layer sits above the
	// recording conn, so transcripts show where encryption started).
	TLS *tls.Config
	// MaxPerIP and Reject: see sessions.ListenerOptions.
	MaxPerIP int
	Reject   func(net.Conn)
	// Wrap, if set, wraps the recording listener below any TLS layer: the
	// place for connection wrappers that must also work on implicit-TLS
	// ports (relaxed deadlines for hand typists).
	Wrap func(net.Listener) net.Listener
	// NoKeepAlive leaves TCP keep-alive probes off the accepted
	// connections (Go turns them on with four setsockopt calls per
	// connection): for a service whose own idle and read timeouts end a
	// silent connection anyway (HTTP).
	NoKeepAlive bool
}

// Listen binds every address in o. On error nothing of this call stays
// bound; earlier calls stay until Close.
func (g *Group) Listen(o ListenOptions) ([]*Bound, error) {
	var out []*Bound
	for _, addr := range o.Addrs {
		ln, err := listenTCP(o.Service, addr, o.NoKeepAlive)
		if err != nil {
			for _, b := range out {
				b.Listener.Close()
			}
			return nil, err
		}
		lo := sessions.ListenerOptions{
			Proto: o.Service, MaxPerIP: o.MaxPerIP, Reject: o.Reject, Logger: g.deps.Logger,
		}
		if g.deps.Config != nil {
			fairness(&lo, g.deps.Config.Limits)
		}
		rec := sessions.Listen(g.deps.Sessions, ln, lo)
		var l net.Listener = rec
		if o.Wrap != nil {
			l = o.Wrap(l)
		}
		if o.TLS != nil {
			l = tls.NewListener(l, o.TLS)
		}
		out = append(out, &Bound{
			Listener: l,
			Endpoint: Endpoint{Service: o.Service, Network: "tcp", Addr: ln.Addr().String(), TLS: o.TLS != nil, State: "listening"},
			rec:      rec,
		})
	}
	g.mu.Lock()
	g.bound = append(g.bound, out...)
	g.mu.Unlock()
	return out, nil
}

// Endpoints lists what the group bound.
func (g *Group) Endpoints() []Endpoint {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Endpoint, len(g.bound))
	for i, b := range g.bound {
		out[i] = b.Endpoint
	}
	return out
}

// Close stops accepting on every listener.
func (g *Group) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.bound {
		b.Listener.Close()
	}
}

// Drain closes the listeners, waits for open connections until ctx ends,
// then closes what is left.
func (g *Group) Drain(ctx context.Context) {
	g.Close()
	g.mu.Lock()
	bound := append([]*Bound(nil), g.bound...)
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range bound {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.rec.Drain(ctx)
		}()
	}
	wg.Wait()
}

// ServeEach runs serve for every bound listener until ctx is cancelled,
// then closes the listeners so that the serve loops return. An error from
// a listener that was closed on purpose is not an error.
func (g *Group) ServeEach(ctx context.Context, serve func(*Bound) error) error {
	g.mu.Lock()
	bound := append([]*Bound(nil), g.bound...)
	g.mu.Unlock()
	errc := make(chan error, len(bound))
	for _, b := range bound {
		go func() { errc <- serve(b) }()
	}
	stop := context.AfterFunc(ctx, g.Close)
	defer stop()
	var first error
	for range bound {
		err := <-errc
		if err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil && first == nil {
			// One listener failing stops the service: better a clear
			// error at the top than a service half up.
			first = err
			g.Close()
		}
	}
	return first
}

// ServeConns is ServeEach for services that handle each connection
// themselves: every accepted connection runs handle in its own goroutine,
// with panic recovery, and is closed when handle returns.
func (g *Group) ServeConns(ctx context.Context, name string, handle func(b *Bound, c net.Conn)) error {
	return g.ServeEach(ctx, func(b *Bound) error {
		for {
			c, err := b.Listener.Accept()
			if err != nil {
				return err
			}
			g.handlers.Add(1)
			go func() {
				defer g.handlers.Done()
				defer c.Close()
				defer Recover(g.deps.Logger, name, "remote", c.RemoteAddr().String())
				handle(b, c)
			}()
		}
	})
}

// Wait waits until every handler ServeConns started has returned, or ctx
// ends. Call it after Serve returned (no more accepts).
func (g *Group) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { g.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// fairness applies the daemon's limits (config.Limits) to a listener by
// the kind of protocol it serves: a login deadline where clients log in, a
// session deadline for SMTP, which is mostly used without logging in, and
// the line watchdog on plain-text line protocols.
func fairness(lo *sessions.ListenerOptions, l config.Limits) {
	lo.MaxConns = l.MaxConnsPerService
	lo.MaxPerUser = l.MaxConnsPerUser
	switch lo.Proto {
	case "pop3", "pop3s", "imap", "imaps", "ftp", "telnet":
		lo.LoginTimeout = l.LoginTimeout.D()
	case "smtp", "submission", "smtps":
		lo.LoginTimeout = l.SMTPSessionTimeout.D()
	case "ssh":
		lo.LoginTimeout = l.SSHLoginGrace.D()
	}
	switch lo.Proto {
	case "smtp", "submission", "pop3", "imap", "ftp":
		lo.LineTimeout = l.LineTimeout.D()
	}
}

// Package http is labd's web server: a site that explains the lab host, the
// users' public_html as /~user/, a page that echoes the request exactly as
// it arrived, status-code demos, a Basic-auth page checked against the user
// database, and the lab CA for download; on HTTP (80) and HTTPS (443, with
// HTTP/2).
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"labd/config"
	"labd/internal/dashboard"
	"labd/internal/i18n"
	"labd/internal/service"
	"labd/internal/sessions"
)

// Version is reported in the Server header.
const Version = "labd/0.1"

// Service is the HTTP and HTTPS server.
type Service struct {
	cfg    config.HTTP
	deps   service.Deps
	log    *slog.Logger
	group  *service.Group
	srv    *http.Server
	extras []Mount
	files  fileCache
	// dash serves the dashboard on its own addresses (dashboard.listen);
	// nil when it is mounted under /labd/ of srv.
	dash *http.Server
	// tr speaks server.language in the texts of pages and error bodies;
	// status lines and headers stay.
	tr *i18n.Printer
}

// Mount is a handler served under a path prefix (the dashboard uses it).
type Mount struct {
	Pattern string
	Handler http.Handler
}

// New builds the service from deps.Config.HTTP, with the instructor's
// dashboard mounted at /labd/ unless dashboard.enabled is false.
func New(deps service.Deps) (service.Service, error) {
	if !deps.Config.Dashboard.On() {
		return NewWith(deps)
	}
	dash, err := dashboard.New(deps)
	if err != nil {
		return nil, err
	}
	if deps.Config.Dashboard.OwnListener() {
		s, err := NewWith(deps)
		if err != nil {
			return nil, err
		}
		s.dash = s.newServer(s.common(dash))
		s.dash.RegisterOnShutdown(dash.Close)
		return s, nil
	}
	s, err := NewWith(deps, Mount{Pattern: dashboard.Prefix, Handler: dash})
	if err != nil {
		return nil, err
	}
	// Event streams end at shutdown instead of holding it for the grace period.
	s.srv.RegisterOnShutdown(dash.Close)
	return s, nil
}

// NewWith builds the service with extra handlers mounted.
func NewWith(deps service.Deps, mounts ...Mount) (*Service, error) {
	cfg := deps.Config.HTTP
	if cfg.Root != "" {
		if fi, err := os.Stat(cfg.Root); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("http.root %s is not a directory", cfg.Root)
		}
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger, group: service.NewGroup(deps), extras: mounts, tr: i18n.New(deps.Config.Server.Lang())}
	s.srv = s.newServer(s.front(s.handler()))
	return s, nil
}

func (s *Service) newServer(h http.Handler) *http.Server {
	cfg := s.cfg
	deps := s.deps
	// HTTP/2 on the plain port too, with prior knowledge (curl
	// --http2-prior-knowledge, h2c): without it the preface got an empty
	// reply. HTTP/1.1 Upgrade: h2c is not supported (Go has no such mode).
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	return &http.Server{
		Protocols:         protos,
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       cfg.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(deps.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			// One value per connection (a plain connection's
			// captureConn knows its session): one allocation less
			// per connection.
			if cc, ok := c.(*captureConn); ok {
				return context.WithValue(ctx, connKey{}, cc)
			}
			return context.WithValue(ctx, connKey{}, sessions.FromConn(c))
		},
	}
}

// Name implements service.Service.
func (s *Service) Name() string { return "http" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	reject := func(c net.Conn) {
		body := s.tr.T("too many connections from your address") + "\r\n\r\n"
		fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	// net/http's idle, read and write timeouts end silent connections:
	// no TCP keep-alive probes (four system calls per connection).
	if _, err := s.group.Listen(service.ListenOptions{Service: "http", Addrs: s.cfg.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject, NoKeepAlive: true}); err != nil {
		return nil, err
	}
	tc := s.deps.TLS.Config()
	tc.NextProtos = []string{"h2", "http/1.1"}
	if _, err := s.group.Listen(service.ListenOptions{Service: "https", Addrs: s.cfg.TLSListen, TLS: tc, MaxPerIP: s.cfg.MaxConnsPerIP, NoKeepAlive: true}); err != nil {
		s.group.Close()
		return nil, err
	}
	if s.dash != nil {
		dc := s.deps.Config.Dashboard
		if _, err := s.group.Listen(service.ListenOptions{Service: "dashboard", Addrs: dc.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject}); err != nil {
			s.group.Close()
			return nil, err
		}
		if _, err := s.group.Listen(service.ListenOptions{Service: "dashboard", Addrs: dc.TLSListen, TLS: tc, MaxPerIP: s.cfg.MaxConnsPerIP}); err != nil {
			s.group.Close()
			return nil, err
		}
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	return s.group.ServeEach(ctx, func(b *service.Bound) error {
		ln := b.Listener
		srv := s.srv
		if b.Endpoint.Service == "dashboard" {
			srv = s.dash
		}
		if !b.Endpoint.TLS {
			ln = captureListener{ln}
		}
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
}

// Shutdown implements service.Service: idle keep-alive connections close at
// once, requests in flight finish within ctx.
func (s *Service) Shutdown(ctx context.Context) error {
	s.group.Close()
	if s.dash != nil && s.dash.Shutdown(ctx) != nil {
		s.dash.Close()
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

// connKey is the context key of a connection's *captureConn (plain
// HTTP) or *sessions.Session (TLS).
type connKey struct{}

func sessionOf(r *http.Request) *sessions.Session {
	switch v := r.Context().Value(connKey{}).(type) {
	case *captureConn:
		return v.sess
	case *sessions.Session:
		return v
	}
	return nil
}

func captureOf(r *http.Request) *captureConn {
	cc, _ := r.Context().Value(connKey{}).(*captureConn)
	return cc
}

// Package pop3 is labd's POP3 server (RFC 1939, CAPA RFC 2449, STLS
// RFC 2595, AUTH PLAIN RFC 5034) on 110 and 995 (implicit TLS). The maildrop
// is the user's INBOX in the shared store: what SMTP delivers is there at
// once, and what a POP3 QUIT deletes is expunged from the store, so IMAP
// sessions see it go at once.
package pop3

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"labd/config"
	"labd/internal/i18n"
	"labd/internal/service"
)

// Service is the POP3 server.
type Service struct {
	cfg  config.POP3
	deps service.Deps
	// tr speaks server.language in the greeting's human text.
	tr    *i18n.Printer
	log   *slog.Logger
	group *service.Group

	// AuthFailDelay is slept after a failed login (tests shrink it).
	AuthFailDelay time.Duration
	// MaxAuthFailures closes the connection after that many failed logins.
	MaxAuthFailures int

	mu     sync.Mutex
	locked map[string]bool // maildrops held by a session (RFC 1939 lock)
}

// New builds the service from deps.Config.POP3.
func New(deps service.Deps) (service.Service, error) { return NewService(deps) }

// NewService is New with the concrete type (tests set the delays).
func NewService(deps service.Deps) (*Service, error) {
	return &Service{
		cfg: deps.Config.POP3, deps: deps, log: deps.Logger, group: service.NewGroup(deps),
		tr:            i18n.New(deps.Config.Server.Lang()),
		AuthFailDelay: time.Second, MaxAuthFailures: 3, locked: map[string]bool{},
	}, nil
}

// Name implements service.Service.
func (s *Service) Name() string { return "pop3" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	reject := func(c net.Conn) {
		fmt.Fprintf(c, "-ERR [SYS/TEMP] too many connections from your address (at most %d), try again later\r\n", s.cfg.MaxConnsPerIP)
	}
	if _, err := s.group.Listen(service.ListenOptions{Service: "pop3", Addrs: s.cfg.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject}); err != nil {
		return nil, err
	}
	if _, err := s.group.Listen(service.ListenOptions{Service: "pop3s", Addrs: s.cfg.TLSListen, MaxPerIP: s.cfg.MaxConnsPerIP, TLS: s.deps.TLS.Config()}); err != nil {
		s.group.Close()
		return nil, err
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	return s.group.ServeConns(ctx, "pop3", func(b *service.Bound, c net.Conn) { s.handle(c, b.Endpoint.TLS) })
}

// Shutdown implements service.Service: sessions may finish until ctx ends;
// those still open are closed without entering UPDATE (no deletion).
func (s *Service) Shutdown(ctx context.Context) error {
	s.group.Drain(ctx)
	return nil
}

// lock takes the maildrop of user for one session.
func (s *Service) lock(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked[user] {
		return false
	}
	s.locked[user] = true
	return true
}

func (s *Service) unlock(user string) {
	s.mu.Lock()
	delete(s.locked, user)
	s.mu.Unlock()
}

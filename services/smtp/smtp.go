// Package smtp is labd's mail server: MX on 25 (local delivery, no login),
// submission on 587 (AUTH required, STARTTLS offered) and 465 (implicit
// TLS), over github.com/emersion/go-smtp. Every accepted message is stored
// by internal/mail in the recipients' INBOX before 250 is sent, so POP3 and
// IMAP see it at once. labd never relays mail out of the lab.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"labd/config"
	"labd/internal/i18n"
	"labd/internal/mail"
	"labd/internal/service"
)

// Endpoint kinds (also the session protocol names).
const (
	kindMX         = "smtp"
	kindSubmission = "submission"
	kindSMTPS      = "smtps"
)

// Service is the SMTP server.
type Service struct {
	cfg     config.SMTP
	deps    service.Deps
	log     *slog.Logger
	group   *service.Group
	deliver *mail.Deliverer
	users   *knownUsers // deliver's store: keeps the recipients found
	relay   []netip.Prefix
	servers map[string]*gosmtp.Server
	// grey remembers triplets while the greylist fault is on.
	grey greylist

	// AuthFailDelay is slept after a failed AUTH (tests shrink it).
	AuthFailDelay time.Duration
	// MaxAuthFailures closes the connection after that many failed AUTH.
	MaxAuthFailures int
	// ready replaces go-smtp's "Service Ready" in the greeting when
	// server.language is not English ("" keeps it).
	ready string
}

// New builds the service from deps.Config.SMTP.
func New(deps service.Deps) (service.Service, error) { return NewService(deps) }

// NewService is New with the concrete type (tests set the delays).
func NewService(deps service.Deps) (*Service, error) {
	cfg := deps.Config.SMTP
	s := &Service{
		cfg: cfg, deps: deps, log: deps.Logger, group: service.NewGroup(deps),
		servers:         map[string]*gosmtp.Server{},
		AuthFailDelay:   time.Second,
		MaxAuthFailures: 3,
	}
	if tr := i18n.New(deps.Config.Server.Lang()); tr.Lang() != "en" {
		s.ready = tr.ASCII("Service Ready")
	}
	domains := append([]string{deps.Config.Server.Domain}, cfg.LocalDomains...)
	s.users = &knownUsers{Store: deps.Store}
	s.deliver = &mail.Deliverer{Store: s.users, Domains: domains, Hostname: deps.Config.FQDN()}
	for _, n := range cfg.RelayNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("smtp.relay_networks: %w", err)
		}
		s.relay = append(s.relay, p.Masked())
	}
	for _, kind := range []string{kindMX, kindSubmission, kindSMTPS} {
		srv := gosmtp.NewServer(&backend{svc: s, kind: kind})
		srv.Domain = deps.Config.FQDN()
		srv.MaxMessageBytes = cfg.MaxMessageBytes
		srv.MaxRecipients = cfg.MaxRecipients
		srv.MaxLineLength = lineBuffer
		// The library sees no *tls.Conn (the line filter sits above TLS),
		// so it is told to allow AUTH everywhere; require_tls_for_auth is
		// enforced by the session (AuthMechanisms/Auth).
		srv.AllowInsecureAuth = true
		srv.ReadTimeout = 0 // the line filter arms an idle timeout per read
		srv.WriteTimeout = cfg.WriteTimeout.D()
		srv.EnableSMTPUTF8 = true
		srv.ErrorLog = log.New(slogWriter{deps.Logger}, "", 0)
		s.servers[kind] = srv
	}
	return s, nil
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("go-smtp", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Name implements service.Service.
func (s *Service) Name() string { return "smtp" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	reject := func(c net.Conn) {
		fmt.Fprintf(c, "421 4.7.0 %s Too many connections from your address (at most %d), try again later\r\n", s.deps.Config.FQDN(), s.cfg.MaxConnsPerIP)
	}
	opts := []service.ListenOptions{
		{Service: kindMX, Addrs: s.cfg.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject},
		{Service: kindSubmission, Addrs: s.cfg.SubmissionListen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject},
		{Service: kindSMTPS, Addrs: s.cfg.TLSListen, MaxPerIP: s.cfg.MaxConnsPerIP, TLS: s.deps.TLS.Config()},
	}
	for _, o := range opts {
		if _, err := s.group.Listen(o); err != nil {
			s.group.Close()
			return nil, err
		}
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	defer s.users.follow()()
	return s.group.ServeEach(ctx, func(b *service.Bound) error {
		kind := b.Endpoint.Service
		srv := s.servers[kind]
		err := srv.Serve(listener{Listener: b.Listener, wrap: func(c net.Conn) net.Conn {
			tc := s.deps.TLS.Config()
			if kind == kindSMTPS {
				tc = nil
			}
			lc := newLineConn(c, kind == kindSMTPS, tc, s.cfg.ReadTimeout.D(), s.deps.Config.Server.Domain, s.vrfy)
			lc.ready = s.ready
			return lc
		}, refuse: func(c net.Conn) bool {
			// Implicit TLS has no plaintext greeting to refuse with.
			return kind != kindSMTPS && s.refuseAtConnect(c)
		}})
		if errors.Is(err, gosmtp.ErrServerClosed) {
			return nil
		}
		return err
	})
}

// Shutdown implements service.Service: transactions in progress may end
// until ctx is done, then connections are closed. (go-smtp's Server.Close
// does nothing after Server.Shutdown, so the group closes the connections.)
func (s *Service) Shutdown(ctx context.Context) error {
	s.group.Drain(ctx)
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, len(s.servers))
	for _, srv := range s.servers {
		go func() { done <- srv.Shutdown(wctx) }()
	}
	var first error
	for range s.servers {
		err := <-done
		// The group already closed the listeners: that error means nothing.
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, gosmtp.ErrServerClosed) && first == nil {
			first = err
		}
	}
	return first
}

// vrfy answers VRFY: the truth when smtp.vrfy is on, 252 otherwise.
func (s *Service) vrfy(arg string) string {
	if !s.cfg.Vrfy {
		return "252 2.5.2 VRFY is disabled on this server (smtp.vrfy: false): send the mail, RCPT TO will tell"
	}
	addr := strings.Trim(arg, "<>")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	user, err := s.deliver.Resolve(ctx, addr)
	switch {
	case err == nil:
		return fmt.Sprintf("250 2.1.5 %s <%s@%s>", user, user, s.deps.Config.Server.Domain)
	case errors.Is(err, mail.ErrNoUser):
		return fmt.Sprintf("550 5.1.1 <%s>: no such user here", addr)
	case errors.Is(err, mail.ErrNotLocal):
		return fmt.Sprintf("551 5.1.6 <%s>: not a local address, labd does not relay outside the lab", addr)
	case errors.Is(err, mail.ErrBadAddress):
		return "501 5.1.3 Bad address syntax"
	}
	return "451 4.3.0 Cannot check the address now, try again"
}

func (s *Service) relayAllowed(ip netip.Addr) bool {
	for _, p := range s.relay {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

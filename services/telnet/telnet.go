// Package telnet is labd's Telnet server (RFC 854 and its options): the
// NVT with IAC handling, option negotiation by RFC 1143's Q method (ECHO,
// SUPPRESS-GO-AHEAD, NAWS, TERMINAL-TYPE), a login:/Password: prompt
// against the user database, then the lab shell. The password crosses the
// network in clear: that is what the class looks for in Wireshark.
package telnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"labd/config"
	"labd/internal/i18n"
	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/shell"
	"labd/internal/store"
)

// Service is the Telnet server.
type Service struct {
	cfg   config.Telnet
	deps  service.Deps
	log   *slog.Logger
	group *service.Group
	// tr speaks server.language; "login:", "Password:" and "Login
	// incorrect" stay as /bin/login writes them: expect scripts, Hydra and
	// terminal macros wait for those words.
	tr *i18n.Printer

	mu   sync.Mutex
	live map[*nvt]struct{} // sessions to warn at shutdown

	// FailDelay is the pause after a failed login (1 s; tests shrink it).
	FailDelay time.Duration
	// NegotiationWait is how long the server waits for the client's
	// answer to its options before it decides the client negotiates
	// nothing (nc) and falls back to line mode.
	NegotiationWait time.Duration
}

// New builds the service from deps.Config.Telnet.
func New(deps service.Deps) (service.Service, error) {
	return &Service{
		cfg:             deps.Config.Telnet,
		deps:            deps,
		log:             deps.Logger,
		group:           service.NewGroup(deps),
		tr:              i18n.New(deps.Config.Server.Lang()),
		live:            map[*nvt]struct{}{},
		FailDelay:       time.Second,
		NegotiationWait: time.Second,
	}, nil
}

// Name implements service.Service.
func (s *Service) Name() string { return "telnet" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	reject := func(c net.Conn) {
		fmt.Fprint(c, s.tr.T("Too many connections from your address; close one and try again.")+"\r\n")
	}
	if _, err := s.group.Listen(service.ListenOptions{Service: "telnet", Addrs: s.cfg.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject}); err != nil {
		return nil, err
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	return s.group.ServeConns(ctx, "telnet", func(_ *service.Bound, c net.Conn) { s.handle(c) })
}

// Shutdown implements service.Service: it tells every logged-in user, then
// lets the sessions run until ctx ends.
func (s *Service) Shutdown(ctx context.Context) error {
	s.group.Close()
	s.mu.Lock()
	for n := range s.live {
		go fmt.Fprint(n, "\n*** "+s.tr.T("labd is shutting down: please log out now; the session will be closed.")+" ***\n")
	}
	s.mu.Unlock()
	s.group.Drain(ctx)
	return nil
}

func (s *Service) handle(c net.Conn) {
	remote := c.RemoteAddr().String()
	log := s.log.With("remote", remote)
	defer c.Close()
	defer service.Recover(log, "telnet", "remote", remote)
	sess := sessions.FromConn(c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	n := newNVT(c, s.cfg.IdleTimeout.D())
	s.mu.Lock()
	s.live[n] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.live, n)
		s.mu.Unlock()
	}()
	if sess != nil {
		n.onChange = sess.SetAttr
	}
	if err := n.start(); err != nil {
		return
	}
	n.waitNegotiation(s.NegotiationWait)
	mode := "character mode (server echo)"
	if !n.echoing() {
		mode = "line mode (the client echoes)"
	}
	if sess != nil {
		neg := "no option negotiation (nc-like client)"
		if n.negotiated {
			neg = "options negotiated"
		}
		sess.Notef("telnet: %s, %s", neg, mode)
		sess.SetAttr("mode", mode)
	}

	user, err := s.login(ctx, n, log)
	if err != nil {
		s.bye(n, err)
		return
	}
	log = log.With("user", user)
	if sess != nil {
		sess.SetUser(user)
	}
	log.Info("telnet login")
	sh, err := shell.New(shell.Env{Deps: s.deps, User: user, Proto: "telnet", Remote: remote, Session: sess, LineMode: !n.echoing(), Tr: i18n.New(s.deps.Config.Server.Lang())})
	if err != nil {
		log.Error("lab shell", "err", err)
		fmt.Fprintln(n, s.tr.T("The lab shell cannot start: %v", err))
		return
	}
	defer sh.Close()
	w, h := n.size()
	// Sizes seen before the shell ran are already in w, h.
	select {
	case <-n.resize:
	default:
	}
	err = sh.Interactive(ctx, n, w, h, n.resize)
	s.bye(n, err)
	log.Info("telnet logout")
}

// bye says why the connection ends, when there is something to say.
func (s *Service) bye(n *nvt, err error) {
	switch {
	case errors.Is(err, errIdle):
		fmt.Fprint(n, "\n"+s.tr.T("No input for %s: disconnecting. Bye.", s.cfg.IdleTimeout.D())+"\n")
	case errors.Is(err, errTooMany):
		fmt.Fprintln(n, s.tr.T("Too many failed login attempts (%d): disconnecting.", s.cfg.MaxAuthTries))
	case err == nil:
		fmt.Fprintln(n, s.tr.T("Connection closed by labd. Bye."))
	}
}

var errTooMany = errors.New("too many failed logins")

// login asks login:/Password: until a user authenticates or the tries run
// out.
func (s *Service) login(ctx context.Context, n *nvt, log *slog.Logger) (string, error) {
	l := &lineInput{n: n}
	if b := s.deps.Config.Shell.Banner; b != "" {
		fmt.Fprintf(n, "%s\n", strings.TrimRight(b, "\n"))
	} else {
		fmt.Fprintln(n, s.tr.T("%s (labd Telnet). Telnet sends everything in clear, the password too: watch it in Wireshark, then compare with SSH.", s.deps.Config.FQDN()))
	}
	fails := 0
	empties := 0
	unchecked := 0
	for fails < s.cfg.MaxAuthTries {
		fmt.Fprint(n, "\nlogin: ")
		name, err := l.readLine(n.echoing())
		if err != nil {
			return "", err
		}
		name = strings.TrimSpace(name)
		if name == "" {
			if empties++; empties > 10 {
				return "", errTooMany
			}
			continue
		}
		fmt.Fprint(n, "Password: ")
		pass, err := l.readLine(false)
		if err != nil {
			return "", err
		}
		if n.echoing() {
			fmt.Fprint(n, "\n")
		}
		u, err := s.deps.Guard.Authenticate(ctx, "telnet", n.conn.RemoteAddr().String(), name, pass)
		if err == nil {
			// What was typed ahead (a pasted script) goes to the shell.
			n.pending = append(l.buf, n.pending...)
			l.buf = nil
			return u.Name, nil
		}
		if !errors.Is(err, store.ErrAuthFailed) {
			// Not the student's failure: not counted, no pause, but
			// bounded like empty lines.
			log.Error("telnet authentication", "err", err)
			fmt.Fprint(n, "Login temporarily unavailable: the user database does not answer, so your password was not checked. Try again in a moment.\n")
			if unchecked++; unchecked > 10 {
				return "", errTooMany
			}
			continue
		}
		fails++
		log.Info("telnet login failed", "login", name, "tries", fails)
		time.Sleep(s.FailDelay)
		fmt.Fprint(n, "Login incorrect\n")
	}
	return "", errTooMany
}

// lineInput reads one line from the NVT for the login prompts, echoing it
// when the server echoes (never for the password).
type lineInput struct {
	n   *nvt
	buf []byte
}

func (l *lineInput) readLine(echo bool) (string, error) {
	var line []byte
	for {
		if len(l.buf) == 0 {
			b := make([]byte, 256)
			k, err := l.n.Read(b)
			if err != nil {
				return "", err
			}
			l.buf = b[:k]
		}
		b := l.buf[0]
		l.buf = l.buf[1:]
		switch b {
		case '\r':
			if echo {
				fmt.Fprint(l.n, "\n")
			}
			return string(line), nil
		case 3, 4: // Ctrl-C, Ctrl-D: end the session
			return "", errCancelled
		case 8, 127:
			if len(line) > 0 {
				line = line[:len(line)-1]
				if echo {
					fmt.Fprint(l.n, "\b \b")
				}
			}
		case 21: // Ctrl-U
			if echo {
				fmt.Fprint(l.n, strings.Repeat("\b \b", len(line)))
			}
			line = line[:0]
		default:
			if b < 0x20 || len(line) >= 256 {
				continue
			}
			line = append(line, b)
			if echo {
				l.n.Write([]byte{b})
			}
		}
	}
}

var errCancelled = errors.New("cancelled by the client")

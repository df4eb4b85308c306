// Package ftp is labd's FTP server (RFC 959) with explicit FTPS (RFC 4217),
// FEAT (RFC 2389), EPSV/EPRT (RFC 2428) and SIZE/MDTM/MLST/MLSD/REST
// (RFC 3659), built on github.com/fclairamb/ftpserverlib. Users log in to
// their home; anonymous gets pub/ read-only. Every control connection is a
// session of the registry; every passive data connection one too.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	golog "github.com/fclairamb/go-log"

	"labd/config"
	"labd/internal/i18n"
	"labd/internal/service"
	"labd/internal/store"
)

// Service is the FTP server.
type Service struct {
	cfg   config.FTP
	deps  service.Deps
	log   *slog.Logger
	group *service.Group
	tls   *tls.Config

	// AuthFailDelay is how long a wrong password waits before its 530
	// (the library then closes the connection).
	AuthFailDelay time.Duration

	clients sync.Map // control conn remote address → *client
	// stopping: labd stops, control connections end between commands
	// (stop.go).
	stopping atomic.Bool

	// tr speaks server.language in the greeting's human text.
	tr *i18n.Printer
}

// New builds the service from deps.Config.FTP.
func New(deps service.Deps) (service.Service, error) {
	return NewService(deps)
}

// NewService is New with the concrete type (tests shrink AuthFailDelay).
func NewService(deps service.Deps) (*Service, error) {
	s := &Service{
		cfg:           deps.Config.FTP,
		tr:            i18n.New(deps.Config.Server.Lang()),
		deps:          deps,
		log:           deps.Logger,
		group:         service.NewGroup(deps),
		AuthFailDelay: time.Second,
	}
	if deps.TLS != nil {
		// One config for control and data connections, so that TLS
		// session tickets issued on one are accepted on the other.
		s.tls = deps.TLS.Config()
	}
	return s, nil
}

// Name implements service.Service.
func (s *Service) Name() string { return "ftp" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	reject := func(c net.Conn) {
		_, _ = c.Write([]byte("421 Too many connections from your address\r\n"))
	}
	if _, err := s.group.Listen(service.ListenOptions{Service: "ftp", Addrs: s.cfg.Listen, MaxPerIP: s.cfg.MaxConnsPerIP, Reject: reject}); err != nil {
		return nil, err
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service: one ftpserverlib server per listener.
func (s *Service) Serve(ctx context.Context) error {
	return s.group.ServeEach(ctx, func(b *service.Bound) error {
		srv := ftpserver.NewFtpServer(&driver{svc: s, settings: s.settings(&ctrlListener{Listener: b.Listener, svc: s})})
		srv.Logger = &logAdapter{l: s.log}
		if err := srv.Listen(); err != nil {
			return err
		}
		return srv.Serve()
	})
}

// Shutdown implements service.Service: control connections with nothing
// under way end at once with 421 (stop.go); transfers finish until ctx
// ends, then their control connections are closed (which ends them).
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopIdle()
	s.group.Drain(ctx)
	return nil
}

func (s *Service) settings(ln net.Listener) *ftpserver.Settings {
	idle := int((s.cfg.IdleTimeout.D() + time.Second - 1) / time.Second)
	if idle <= 0 {
		idle = 300
	}
	st := &ftpserver.Settings{
		Listener:                ln,
		ListenAddr:              ln.Addr().String(), // shown by STAT
		PublicIPResolver:        s.publicIP,
		ActiveTransferPortNon20: !s.cfg.ActiveFromPort20,
		IdleTimeout:             idle,
		ConnectionTimeout:       30,
		Banner:                  "labd FTP server",
		DefaultTransferType:     ftpserver.TransferTypeBinary,
	}
	if first, last, ok := s.cfg.PassiveRange(); ok {
		st.PassiveTransferPortRange = &ftpserver.PortRange{Start: first, End: last}
	}
	// ftp.require_tls is enforced by ctrlConn: the library never learns
	// that the control connection is encrypted (ctrlConn answers AUTH
	// TLS), so its MandatoryEncryption would refuse every USER.
	return st
}

// publicIP is the address PASV announces: ftp.public_host, else
// server.public_address, else the address the client reached us on.
func (s *Service) publicIP(cc ftpserver.ClientContext) (string, error) {
	for _, h := range []string{s.cfg.PublicHost, s.deps.Config.Server.PublicAddress} {
		if a, err := netip.ParseAddr(h); err == nil && a.Unmap().Is4() && !a.IsUnspecified() {
			return a.Unmap().String(), nil
		}
	}
	if ta, ok := cc.LocalAddr().(*net.TCPAddr); ok {
		if ip4 := ta.IP.To4(); ip4 != nil {
			return ip4.String(), nil
		}
	}
	return "", errors.New("PASV needs an IPv4 address and this connection is IPv6: use EPSV, or set ftp.public_host")
}

func (s *Service) clientOf(cc ftpserver.ClientContext) *client {
	if c, ok := cc.Extra().(*client); ok {
		return c
	}
	if v, ok := s.clients.Load(cc.RemoteAddr().String()); ok {
		return v.(*client)
	}
	remote := cc.RemoteAddr().String()
	return &client{svc: s, remote: remote, log: s.log.With("remote", remote)}
}

var (
	errLoginIncorrect = errors.New("login incorrect")
	errAnonDisabled   = errors.New("anonymous access is disabled")
	// errUnavailable: the password could not be checked (the guard did
	// not count it). ftpserverlib answers every AuthUser error with 530
	// and closes; the text says it is temporary.
	errUnavailable = errors.New("user database unavailable")
)

// driver is ftpserverlib's MainDriver for one listener.
type driver struct {
	svc      *Service
	settings *ftpserver.Settings
}

var (
	_ ftpserver.MainDriver                         = (*driver)(nil)
	_ ftpserver.MainDriverExtensionPostAuthMessage = (*driver)(nil)
	_ ftpserver.MainDriverExtensionQuitMessage     = (*driver)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper  = (*driver)(nil)
)

func (d *driver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

// recoverTo logs a panic of a driver callback; the library only recovers
// panics of command handlers, not of the connect/disconnect callbacks.
func (d *driver) recoverTo(where string, errp *error) {
	if r := recover(); r != nil {
		d.svc.log.Error("ftp driver panicked; the session goes on or closes, labd goes on",
			"callback", where, "panic", r, "stack", string(debug.Stack()))
		if errp != nil {
			*errp = errors.New("internal error")
		}
	}
}

func (d *driver) ClientConnected(cc ftpserver.ClientContext) (msg string, err error) {
	defer d.recoverTo("ClientConnected", &err)
	c := d.svc.clientOf(cc)
	cc.SetExtra(c)
	host := d.svc.deps.Config.Server.Hostname
	return d.svc.tr.ASCII("%s labd FTP server ready. USER and PASS travel in clear text here (AUTH TLS for FTPS); HELP lists the commands.", host), nil
}

func (d *driver) ClientDisconnected(cc ftpserver.ClientContext) {
	defer d.recoverTo("ClientDisconnected", nil)
	c := d.svc.clientOf(cc)
	c.close()
	d.svc.clients.Delete(c.remote)
	c.log.Debug("ftp client disconnected", "user", c.userName())
}

func (d *driver) AuthUser(cc ftpserver.ClientContext, user, pass string) (drv ftpserver.ClientDriver, err error) {
	defer d.recoverTo("AuthUser", &err)
	s := d.svc
	c := s.clientOf(cc)
	anonName := strings.EqualFold(user, "anonymous") || strings.EqualFold(user, "ftp")
	if s.cfg.Anonymous && anonName {
		root, err := os.OpenRoot(s.deps.Layout.Pub())
		if err != nil {
			c.log.Error("cannot open pub/", "err", err)
			return nil, errors.New("the public directory is unavailable")
		}
		return c.login("anonymous", true, root), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := s.deps.Guard.Authenticate(ctx, "ftp", c.remote, user, pass)
	if err != nil {
		if errors.Is(err, store.ErrAuthFailed) && anonName {
			c.note("anonymous login refused: ftp.anonymous is off")
			time.Sleep(s.AuthFailDelay)
			return nil, errAnonDisabled
		}
		if errors.Is(err, store.ErrAuthFailed) {
			c.log.Warn("ftp login failed", "user", user)
			c.note("login failed for %q", user)
			time.Sleep(s.AuthFailDelay)
			return nil, errLoginIncorrect
		}
		c.log.Error("ftp login: user database", "user", user, "err", err)
		return nil, errUnavailable
	}
	if err := s.deps.Layout.EnsureHome(u.Name); err != nil {
		c.log.Error("cannot create home", "user", u.Name, "err", err)
		return nil, errors.New("your home directory is unavailable")
	}
	root, err := os.OpenRoot(s.deps.Layout.Home(u.Name))
	if err != nil {
		c.log.Error("cannot open home", "user", u.Name, "err", err)
		return nil, errors.New("your home directory is unavailable")
	}
	home := c.login(u.Name, false, root)
	pub, err := os.OpenRoot(s.deps.Layout.Pub())
	if err != nil {
		c.log.Warn("cannot open pub/ for the user's view", "err", err)
		return home, nil
	}
	pfs := &rootFs{root: pub, readOnly: !s.cfg.PubWritable, noQuota: true, client: c}
	c.mu.Lock()
	old := c.pub
	c.pub = pfs
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
	return &mountFs{home: home, pub: pfs}, nil
}

// login records a successful login and returns the client's filesystem.
func (c *client) login(user string, anon bool, root *os.Root) *rootFs {
	fs := &rootFs{root: root, readOnly: anon, client: c}
	c.mu.Lock()
	old := c.fs
	c.user, c.anon, c.fs = user, anon, fs
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
	if c.sess != nil {
		c.sess.SetUser(user)
	}
	c.log.Info("ftp login", "user", user, "anonymous", anon)
	return fs
}

func (d *driver) PostAuthMessage(cc ftpserver.ClientContext, user string, authErr error) string {
	if authErr != nil {
		if errors.Is(authErr, errAnonDisabled) {
			return "Anonymous access is disabled on this server"
		}
		if errors.Is(authErr, errUnavailable) {
			return "Temporary failure: the user database does not answer, so your password was not checked (it is not a wrong password). Try again in a moment."
		}
		if errors.Is(authErr, errLoginIncorrect) {
			return "Login incorrect (wrong user name or password); closing the connection."
		}
		return "Login failed: " + authErr.Error()
	}
	c := d.svc.clientOf(cc)
	c.mu.Lock()
	anon := c.anon
	c.mu.Unlock()
	if anon {
		return "Anonymous login ok: read-only access to the public directory; uploads are refused."
	}
	return fmt.Sprintf("User %s logged in; / is your home directory.", user)
}

func (d *driver) QuitMessage() string { return "Goodbye." }

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.svc.tls == nil {
		return nil, errors.New("TLS is not configured")
	}
	return d.svc.tls, nil
}

func (d *driver) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	return &dataListener{Listener: l, svc: d.svc}, nil
}

// logAdapter gives ftpserverlib (github.com/fclairamb/go-log) labd's slog
// logger, one level quieter: the library's Info is our Debug.
type logAdapter struct{ l *slog.Logger }

func (a *logAdapter) log(level slog.Level, event string, kv ...any) {
	// The library logs a closed listener (normal shutdown) as an error.
	for i := 0; i+1 < len(kv); i += 2 {
		if err, ok := kv[i+1].(error); ok && errors.Is(err, net.ErrClosed) {
			level = slog.LevelDebug
		}
	}
	a.l.Log(context.Background(), level, "ftpserverlib: "+event, kv...)
}

func (a *logAdapter) Debug(event string, kv ...any) { a.log(slog.LevelDebug, event, kv...) }
func (a *logAdapter) Info(event string, kv ...any)  { a.log(slog.LevelDebug, event, kv...) }
func (a *logAdapter) Warn(event string, kv ...any)  { a.log(slog.LevelInfo, event, kv...) }
func (a *logAdapter) Error(event string, kv ...any) { a.log(slog.LevelWarn, event, kv...) }
func (a *logAdapter) Panic(event string, kv ...any) { a.log(slog.LevelError, event, kv...) }
func (a *logAdapter) With(kv ...any) golog.Logger   { return &logAdapter{l: a.l.With(kv...)} }

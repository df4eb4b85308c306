// Package ssh is labd's SSH server (RFC 4251-4254, keyboard-interactive
// RFC 4256) on github.com/gliderlabs/ssh: password, keyboard-interactive
// and public-key logins against the user database, the lab shell on a PTY,
// `ssh host CMD` running one lab-shell command with its exit status, and
// the SFTP subsystem (github.com/pkg/sftp) rooted in the user's home, which
// also serves OpenSSH 9's scp, and labd's own legacy SCP (scp -t/-f). Host keys (ed25519 and RSA) are generated
// once into data_dir/keys so that their fingerprints stay the same. Port,
// agent and X11 forwarding are off unless ssh.allow_forwarding enables TCP
// forwarding.
package ssh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	glssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"labd/config"
	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
)

// Version is the software part of the SSH identification string
// ("SSH-2.0-labd_0.1"), the first line a capture shows.
const Version = "labd_0.1"

// Service is the SSH server.
type Service struct {
	cfg   config.SSH
	deps  service.Deps
	log   *slog.Logger
	group *service.Group
	srv   *glssh.Server
	// keys loads (or, at the first start, generates) the host keys, in a
	// goroutine started by NewService and waited for by Serve: parsing
	// the RSA 3072 key (Go's FIPS checks) is 5 ms of labd's startup, and
	// every other service can serve meanwhile.
	keys func() ([]HostKey, error)

	// FailDelay is the pause after a failed password or keyboard-interactive
	// attempt (1 s; tests shrink it).
	FailDelay time.Duration

	mu    sync.Mutex
	shell map[io.Writer]struct{} // interactive lab shells, told at shutdown
}

// context keys of a connection
type ctxKey struct{ name string }

var (
	keySession = &ctxKey{"labd-session"} // *sessions.Session
	keyConn    = &ctxKey{"labd-conn"}    // net.Conn (the recording conn)
	keyUser    = &ctxKey{"labd-user"}    // canonical user name, once authenticated
	keyMethod  = &ctxKey{"labd-method"}  // auth method that succeeded
)

// New builds the service from deps.Config.SSH, loading or generating the
// host keys.
func New(deps service.Deps) (service.Service, error) {
	return NewService(deps)
}

// NewService is New with the concrete type (tests set FailDelay).
func NewService(deps service.Deps) (*Service, error) {
	s := &Service{
		cfg:       deps.Config.SSH,
		deps:      deps,
		log:       deps.Logger,
		group:     service.NewGroup(deps),
		FailDelay: time.Second,
	}
	s.keys = sync.OnceValues(func() ([]HostKey, error) {
		keys, err := LoadHostKeys(deps.Layout)
		for _, k := range keys {
			if k.Created {
				f := FingerprintOf(k.Signer.PublicKey(), k.Path)
				s.log.Info("ssh host key generated", "type", f.Type, "fingerprint", f.SHA256, "file", k.Path)
			}
		}
		return keys, err
	})
	go func() { _, _ = s.keys() }()
	s.srv = s.newServer()
	return s, nil
}

// HostKeys returns the host keys, once loaded (nil if they could not be).
func (s *Service) HostKeys() []HostKey {
	keys, _ := s.keys()
	return keys
}

func (s *Service) newServer() *glssh.Server {
	srv := &glssh.Server{
		Version:     Version,
		Banner:      bannerText(s.deps.Config.Shell.Banner),
		IdleTimeout: s.cfg.IdleTimeout.D(),
		Handler:     s.handleSession,
		// Every handler is set: gliderlabs without any auth handler
		// means no authentication at all.
		PasswordHandler:            s.password,
		KeyboardInteractiveHandler: s.keyboardInteractive,
		PublicKeyHandler:           s.publicKey,
		ConnCallback:               s.connCallback,
		ServerConfigCallback:       s.serverConfig,
		PtyCallback:                func(glssh.Context, glssh.Pty) bool { return true },
		ChannelHandlers: map[string]glssh.ChannelHandler{
			"session": s.sessionChannel,
		},
		RequestHandlers:   map[string]glssh.RequestHandler{},
		SubsystemHandlers: map[string]glssh.SubsystemHandler{"sftp": s.handleSFTP},
		LocalPortForwardingCallback: func(glssh.Context, string, uint32) bool {
			return s.cfg.AllowForwarding
		},
		ReversePortForwardingCallback: func(glssh.Context, string, uint32) bool {
			return s.cfg.AllowForwarding
		},
	}
	if s.cfg.AllowForwarding {
		fwd := &glssh.ForwardedTCPHandler{}
		srv.ChannelHandlers["direct-tcpip"] = func(srv *glssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx glssh.Context) {
			defer service.Recover(s.log, "ssh", "remote", conn.RemoteAddr().String())
			if sess := sessionOf(ctx); sess != nil {
				sess.Notef("direct-tcpip channel (local port forwarding) requested")
			}
			glssh.DirectTCPIPHandler(srv, conn, ch, ctx)
		}
		srv.RequestHandlers["tcpip-forward"] = fwd.HandleSSHRequest
		srv.RequestHandlers["cancel-tcpip-forward"] = fwd.HandleSSHRequest
	}
	return srv
}

// bannerText makes the configured banner end with CRLF, as RFC 4252
// clients print it verbatim.
func bannerText(b string) string {
	b = strings.TrimRight(b, "\r\n")
	if b == "" {
		return ""
	}
	return strings.ReplaceAll(strings.ReplaceAll(b, "\r\n", "\n"), "\n", "\r\n") + "\r\n"
}

// Name implements service.Service.
func (s *Service) Name() string { return "ssh" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	if _, err := s.group.Listen(service.ListenOptions{Service: "ssh", Addrs: s.cfg.Listen, MaxPerIP: s.deps.Config.Limits.SSHMaxConnsPerIP}); err != nil {
		return nil, err
	}
	return s.group.Endpoints(), nil
}

// Serve implements service.Service. The accept loop is labd's own (not
// gliderlabs' Serve) so that a panic in the handshake or an auth callback,
// which run in the connection's goroutine, is recovered.
func (s *Service) Serve(ctx context.Context) error {
	keys, err := s.keys()
	if err != nil {
		return err
	}
	// Before the first connection is accepted: the server reads its
	// host keys at each handshake.
	for _, k := range keys {
		s.srv.AddHostKey(s.hostSigner(k.Signer))
	}
	return s.group.ServeConns(ctx, "ssh", func(_ *service.Bound, c net.Conn) { s.srv.HandleConn(c) })
}

// Shutdown implements service.Service: sessions go on until ctx ends, then
// their connections are closed.
func (s *Service) Shutdown(ctx context.Context) error {
	// Like Telnet: every interactive shell user is told first.
	s.mu.Lock()
	for w := range s.shell {
		go fmt.Fprint(w, "\r\n*** labd is shutting down: please log out now; the session will be closed. ***\r\n")
	}
	s.mu.Unlock()
	s.group.Drain(ctx)
	_ = s.srv.Close()
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.group.Wait(wctx)
	return nil
}

// connCallback runs first for every connection: it finds the session
// registry entry of the (recording) connection for the later callbacks.
func (s *Service) connCallback(ctx glssh.Context, c net.Conn) net.Conn {
	ctx.SetValue(keyConn, c)
	if sess := sessions.FromConn(c); sess != nil {
		ctx.SetValue(keySession, sess)
	}
	// x/crypto reads the client's version line one byte at a time (so as
	// not to read past it); buffered here, the transcript shows the line
	// as one entry instead of one entry per byte.
	return &bufConn{Conn: c, r: bufio.NewReaderSize(c, 4096)}
}

// bufConn reads its conn through a buffer.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// NetConn lets sessions.FromConn find the recording conn below.
func (b *bufConn) NetConn() net.Conn { return b.Conn }

func sessionOf(ctx context.Context) *sessions.Session {
	sess, _ := ctx.Value(keySession).(*sessions.Session)
	return sess
}

func userOf(ctx context.Context) string {
	u, _ := ctx.Value(keyUser).(string)
	return u
}

// serverConfig is the x/crypto ServerConfig of one connection; gliderlabs
// adds the host keys and auth callbacks to it.
func (s *Service) serverConfig(ctx glssh.Context) *gossh.ServerConfig {
	sess := sessionOf(ctx)
	cfg := &gossh.ServerConfig{
		Config: gossh.Config{
			// Explicit lists: the library's defaults still include SHA-1
			// key exchange and hmac-sha1-96.
			KeyExchanges: []string{gossh.KeyExchangeMLKEM768X25519, gossh.KeyExchangeCurve25519,
				gossh.KeyExchangeECDHP256, gossh.KeyExchangeECDHP384, gossh.KeyExchangeECDHP521,
				gossh.KeyExchangeDH16SHA512, gossh.KeyExchangeDH14SHA256},
			// No chacha20-poly1305: x/crypto's ChaCha20 has no amd64
			// assembly and cost 2.5 times OpenSSH's CPU per byte (half
			// of an SFTP download's CPU in the profile), while AES uses
			// AES-NI. The client's order decides (RFC 4253 7.1), so an
			// OpenSSH client now picks aes128-ctr with
			// hmac-sha2-256-etm, PuTTY aes256-ctr; AES-GCM stays for
			// clients that prefer it. See docs/performance.md.
			Ciphers: []string{gossh.CipherAES128GCM, gossh.CipherAES256GCM,
				gossh.CipherAES128CTR, gossh.CipherAES192CTR, gossh.CipherAES256CTR},
			MACs: []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM, gossh.HMACSHA256, gossh.HMACSHA512},
		},
		MaxAuthTries: s.cfg.MaxAuthTries,
		PreAuthConnCallback: func(c gossh.ServerPreAuthConn) {
			// Kept to tell the client, during authentication, that the
			// user database is down (tempFailure).
			ctx.SetValue(preAuthKey{}, c)
			if sess != nil {
				sess.SetAttr("client", string(c.ClientVersion()))
				sess.Notef("SSH key exchange done (client %s): from here on everything is encrypted, the password too", c.ClientVersion())
			}
		},
		AuthLogCallback: func(c gossh.ConnMetadata, method string, err error) {
			s.authLog(ctx, c, method, err)
		},
	}
	return cfg
}

// authLog sees every authentication attempt and, on success, the user the
// connection is logged in as.
func (s *Service) authLog(ctx glssh.Context, c gossh.ConnMetadata, method string, err error) {
	sess := sessionOf(ctx)
	log := s.log.With("remote", c.RemoteAddr().String(), "login", c.User(), "method", method)
	if err != nil {
		if method == "none" {
			return // every client starts by asking which methods exist
		}
		log.Info("ssh authentication failed")
		if sess != nil {
			sess.Notef("%s authentication failed for %s", method, c.User())
		}
		return
	}
	user := store.NormalizeUser(c.User())
	// gliderlabs hands its auth handlers the first user name of the
	// connection; a client may change the name between attempts. Accept
	// only a success for the name the handlers checked.
	if checked := store.NormalizeUser(ctx.User()); checked != user {
		log.Warn("ssh: user name changed during authentication; connection closed", "checked", checked)
		if conn, ok := ctx.Value(keyConn).(net.Conn); ok {
			conn.Close()
		}
		return
	}
	ctx.SetValue(keyUser, user)
	ctx.SetValue(keyMethod, method)
	if sess != nil {
		sess.SetAttr("auth", method)
		sess.SetUser(user)
	}
	log.Info("ssh login", "user", user)
}

// password checks a password (method "password").
func (s *Service) password(ctx glssh.Context, pass string) bool {
	return s.checkPassword(ctx, pass)
}

func (s *Service) checkPassword(ctx glssh.Context, pass string) bool {
	_, err := s.deps.Guard.Authenticate(ctx, "ssh", ctx.RemoteAddr().String(), ctx.User(), pass)
	if err == nil {
		return true
	}
	if !errors.Is(err, store.ErrAuthFailed) {
		// Not a wrong password: the guard did not count it, and no
		// pause either.
		s.log.Error("ssh authentication", "err", err, "remote", ctx.RemoteAddr().String())
		s.tempFailure(ctx)
		return false
	}
	s.failPause(ctx)
	return false
}

// preAuthKey holds the connection's gossh.ServerPreAuthConn in its context.
type preAuthKey struct{}

// tempFailure tells the client, with an authentication banner (OpenSSH and
// PuTTY print it), that its credentials could not be checked because the
// user database is unavailable: SSH has no "try again later" answer, and
// the "Permission denied" that follows would otherwise read as a wrong
// password.
func (s *Service) tempFailure(ctx glssh.Context) {
	pc, ok := ctx.Value(preAuthKey{}).(gossh.ServerPreAuthConn)
	if !ok {
		return
	}
	const msg = "labd: the user database is unavailable right now, so your credentials were not checked\r\n" +
		"(this is not a wrong password). Try again in a moment.\r\n"
	if err := pc.SendAuthBanner(msg); err != nil {
		s.log.Debug("ssh: cannot send the unavailable banner", "err", err)
	}
}

func (s *Service) failPause(ctx context.Context) {
	t := time.NewTimer(s.FailDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// keyboardInteractive asks one "Password: " question with echo off: what
// PuTTY and OpenSSH use by default (RFC 4256).
func (s *Service) keyboardInteractive(ctx glssh.Context, challenge gossh.KeyboardInteractiveChallenge) bool {
	answers, err := challenge("", "", []string{"Password: "}, []bool{false})
	if err != nil || len(answers) != 1 {
		return false
	}
	return s.checkPassword(ctx, answers[0])
}

// publicKey accepts a key listed for the user (labd user key add).
func (s *Service) publicKey(ctx glssh.Context, key glssh.PublicKey) bool {
	lines, err := s.deps.Store.Keys(ctx, ctx.User())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("ssh: read keys", "err", err, "user", ctx.User())
		}
		if errors.Is(err, store.ErrUnavailable) {
			s.tempFailure(ctx)
		}
		return false
	}
	for _, line := range lines {
		k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			continue
		}
		if glssh.KeysEqual(k, key) {
			return true
		}
	}
	return false
}

// errNoUser is returned when a channel arrives on a connection whose user
// is unknown (cannot happen after a successful authentication).
var errNoUser = fmt.Errorf("ssh: no authenticated user")

// hostSigner restricts an RSA host key to SHA-2 signatures unless
// ssh.legacy_rsa_sha1 is set.
func (s *Service) hostSigner(k gossh.Signer) gossh.Signer {
	as, ok := k.(gossh.AlgorithmSigner)
	if !ok || k.PublicKey().Type() != gossh.KeyAlgoRSA || s.cfg.LegacyRSASHA1 {
		return k
	}
	r, err := gossh.NewSignerWithAlgorithms(as, []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256})
	if err != nil {
		return k
	}
	return r
}

// Package daemon runs labd: it prepares the shared dependencies, binds every
// service (stopping what it bound if one fails), serves until told to stop,
// reloads on SIGHUP, and shuts down in two phases on SIGTERM: stop
// accepting, then let sessions finish within the grace period, then close
// the store.
//
// cmd/labd calls Run; tests call it too, so that they drive the same code
// path as the binary.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"labd/config"
	"labd/internal/authguard"
	"labd/internal/budget"
	"labd/internal/fsroot"
	"labd/internal/i18n"
	"labd/internal/journal"
	"labd/internal/metrics"
	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
	"labd/internal/tlsutil"
)

// Options are what Run needs besides the config.
type Options struct {
	Builders []service.Builder
	// Stdout receives the listener table.
	Stdout io.Writer
	Logger *slog.Logger
	// Ready, if set, is called once every service serves, with the deps
	// (tests read the bound addresses from Deps.Endpoints).
	Ready func(service.Deps)
	// Signals replaces the process signals (tests send their own).
	Signals <-chan os.Signal
	// BcryptCost for new password hashes (tests lower it).
	BcryptCost int
	// Version is labd's build version (metrics' labd_build_info).
	Version string
}

// Run runs the daemon until ctx is cancelled or SIGTERM/SIGINT arrives.
func Run(ctx context.Context, cfg *config.Config, o Options) error {
	logger := o.Logger
	// level lets a reload change the log level of the daemon's own logger.
	var level *slog.LevelVar
	if logger == nil {
		level = new(slog.LevelVar)
		level.Set(LogLevel(cfg.Server.LogLevel))
		logger = defaultLogger(level)
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	started := time.Now()
	applyRuntime(cfg.Runtime, logger, os.Getenv)
	// Signals are ours from the start: a SIGHUP during a slow first start
	// (key generation) must not kill the process, Go's default.
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}
	deps, err := Prepare(cfg, logger, o.BcryptCost)
	if err != nil {
		return err
	}
	defer deps.Store.Close()
	// User changes from any host reach this host's caches and sessions.
	stopUsers := followUsers(deps.Store, deps.Guard, deps.Sessions, deps.Layout, logger)
	defer stopUsers()
	sessionLog := startSessionLog(cfg, deps, logger)
	if sessionLog != nil {
		defer sessionLog.Close()
	}
	defer func() {
		if deps.Exercises != nil {
			deps.Exercises.Close() // idempotent; before the store closes
		}
	}()

	var svcs []service.Service
	for _, b := range o.Builders {
		if !b.Enabled(cfg) {
			continue
		}
		d := deps
		d.Logger = logger.With("service", b.Name)
		s, err := b.New(d)
		if err != nil {
			return fmt.Errorf("%s: %w", b.Name, err)
		}
		svcs = append(svcs, s)
	}
	if addr := cfg.Metrics.Listen; addr != "" {
		m := metrics.New(deps.Sessions, deps.Store, o.Version)
		if deps.Guard != nil {
			deps.Guard.Observe(m.Login)
		}
		if sessionLog != nil {
			m.SessionLog(sessionLog.Written, sessionLog.Dropped)
		}
		svcs = append(svcs, metrics.NewService(m, addr, logger.With("service", "metrics")))
	}

	// Bind everything before serving anything: a half-started lab host is
	// worse than a clear error.
	for i, s := range svcs {
		eps, err := s.Bind()
		if err != nil {
			cctx, cancel := context.WithCancel(context.Background())
			cancel()
			for _, done := range svcs[:i+1] {
				_ = done.Shutdown(cctx)
			}
			return err
		}
		deps.Endpoints.Add(eps...)
	}
	PrintTable(o.Stdout, deps.Endpoints.List(), i18n.New(cfg.Server.Lang()))
	if addr := cfg.Server.DebugListen; addr != "" {
		_, stopDebug, err := startDebug(addr, logger)
		if err != nil {
			// Profiling is a convenience: labd serves without it.
			logger.Warn("debug listener unavailable", "err", err)
		} else {
			defer stopDebug()
		}
	}

	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	var wg sync.WaitGroup
	errc := make(chan error, len(svcs))
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(serveCtx); err != nil {
				errc <- fmt.Errorf("%s: %w", s.Name(), err)
			}
		}()
	}

	ctl, err := startControl(deps, func(ctx context.Context) string { return reload(ctx, cfg, deps, svcs, level) })
	if err != nil {
		logger.Warn("control socket unavailable: labd sessions and labd reload will not reach this daemon", "err", err)
	}

	startup := time.Since(started).Round(time.Millisecond)
	logger.Info("labd ready", "listeners", len(deps.Endpoints.List()), "startup", startup.String(), "data_dir", cfg.Server.DataDir)
	fmt.Fprintf(o.Stdout, "labd ready: %d listeners in %s\n", len(deps.Endpoints.List()), startup)
	notifySystemd("READY=1\nSTATUS=serving")
	if o.Ready != nil {
		o.Ready(deps)
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			logger.Error("service failed; stopping labd", "err", err)
			runErr = err
			break loop
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				notifySystemd("RELOADING=1")
				reload(context.Background(), cfg, deps, svcs, level)
				notifySystemd("READY=1")
				continue
			}
			logger.Info("stopping: no new connections; open sessions may finish", "signal", sig.String(), "grace", cfg.Server.GracePeriod.String())
			break loop
		}
	}

	notifySystemd("STOPPING=1")
	deps.Endpoints.SetState("stopped")
	stopServing()
	wg.Wait()
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.GracePeriod.D())
	defer cancel()
	var sw sync.WaitGroup
	for _, s := range svcs {
		sw.Add(1)
		go func() {
			defer sw.Done()
			if err := s.Shutdown(graceCtx); err != nil {
				logger.Warn("shutdown", "service", s.Name(), "err", err)
			}
		}()
	}
	sw.Wait()
	if ctl != nil {
		// Let a reload or listing in progress finish before the store
		// closes under it.
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = ctl.Shutdown(cctx)
		ccancel()
	}
	if deps.Exercises != nil {
		// Sessions that ended during the drain still count.
		deps.Exercises.Close()
	}
	stopUsers()
	if sessionLog != nil {
		sessionLog.Close() // after the drain: the sessions' ends are written
	}
	if err := deps.Store.Close(); err != nil {
		logger.Error("closing the store", "err", err)
		return err
	}
	logger.Info("labd stopped")
	return runErr
}

// Prepare builds the shared dependencies: data directory, store (with the
// demo users when configured), homes, TLS material, session registry.
func Prepare(cfg *config.Config, logger *slog.Logger, bcryptCost int) (service.Deps, error) {
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	if err := layout.Ensure(); err != nil {
		return service.Deps{}, err
	}
	st, err := OpenStore(cfg, layout, bcryptCost, logger)
	if err != nil {
		return service.Deps{}, err
	}
	// The database holds password hashes: owner only, whatever the umask
	// the daemon was started with (SQLite creates files 0644 &^ umask).
	for _, f := range []string{layout.Database(), layout.Database() + "-wal", layout.Database() + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			st.Close()
			return service.Deps{}, fmt.Errorf("restrict %s to 0600: %w", f, err)
		}
	}
	ctx := context.Background()
	if cfg.Users.Demo {
		for _, u := range []string{"alice", "bob"} {
			// Look first: hashing a password only to hear that the user
			// exists would cost every start a bcrypt round per user.
			if _, err := st.User(ctx, u); err == nil {
				continue
			}
			if err := st.CreateUser(ctx, u, u, false); err != nil && !errors.Is(err, store.ErrExists) {
				st.Close()
				return service.Deps{}, fmt.Errorf("create demo user %s: %w", u, err)
			}
		}
	}
	if err := ensureHomes(ctx, st, layout); err != nil {
		st.Close()
		return service.Deps{}, err
	}
	names, ips := tlsNames(cfg)
	mat, err := tlsutil.Load(tlsutil.Options{CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key, Dir: layout.TLSDir(), Names: names, IPs: ips})
	if err != nil {
		st.Close()
		return service.Deps{}, err
	}
	reg := sessions.New(sessions.Options{
		History:         cfg.Sessions.History,
		TranscriptBytes: cfg.Sessions.TranscriptBytes,
		TotalBytes:      cfg.Sessions.TotalBytes,
		KeyLog:          cfg.Sessions.KeyLog(),
	})
	if w := reg.KeyLogWriter(); w != nil {
		mat.KeyLog = w
	}
	fs := newFaults(cfg, layout, logger)
	reg.SetFaults(fs)
	tracker, err := newTracker(cfg, layout, reg, st)
	if err != nil {
		st.Close()
		return service.Deps{}, err
	}
	return service.Deps{
		Config:    cfg,
		Store:     st,
		Sessions:  reg,
		TLS:       mat,
		Guard:     authguard.New(st, guardOptions(cfg.AuthThrottle, reg), logger),
		Inflight:  budget.New(cfg.Limits.InflightMessageBytes),
		Layout:    layout,
		Logger:    logger,
		Endpoints: &service.Endpoints{},
		Faults:    fs,
		Exercises: tracker,
	}, nil
}

func ensureHomes(ctx context.Context, st store.Users, layout fsroot.Layout) error {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := layout.EnsureHome(u.Name); err != nil {
			return err
		}
	}
	return nil
}

// tlsNames are the generated certificate's SANs: the host, the lab domain,
// its service names, localhost, and the listen addresses.
func tlsNames(cfg *config.Config) ([]string, []net.IP) {
	d := cfg.Server.Domain
	names := []string{cfg.FQDN(), d, "localhost"}
	for _, s := range []string{"www", "mail", "smtp", "imap", "pop3", "ftp", "ns", "autoconfig", "autodiscover"} {
		names = append(names, s+"."+d)
	}
	if h := cfg.Server.Hostname; h != "" && !strings.Contains(h, ".") {
		names = append(names, h)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	for _, a := range append(append([]string(nil), cfg.Server.Listen...), cfg.Server.PublicAddress) {
		if ip := net.ParseIP(a); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			ips = append(ips, ip)
		}
	}
	return names, ips
}

// reload re-reads what can change without a restart and returns a summary.
func reload(ctx context.Context, cfg *config.Config, deps service.Deps, svcs []service.Service, level *slog.LevelVar) string {
	var done []string
	if err := ensureHomes(ctx, deps.Store, deps.Layout); err != nil {
		deps.Logger.Error("reload: users", "err", err)
	} else if users, err := deps.Store.ListUsers(ctx); err == nil {
		done = append(done, fmt.Sprintf("users (%d, homes checked)", len(users)))
	}
	for _, s := range svcs {
		r, ok := s.(service.Reloader)
		if !ok {
			continue
		}
		what, err := r.Reload(ctx)
		if err != nil {
			deps.Logger.Error("reload failed; the previous state stays in use", "service", s.Name(), "err", err)
			done = append(done, s.Name()+": failed: "+err.Error())
			continue
		}
		done = append(done, s.Name()+": "+what)
	}
	done = append(done, reloadConfig(cfg, level, deps.Logger))
	if what := reloadExercises(cfg, deps); what != "" {
		done = append(done, what)
	}
	summary := strings.Join(done, "; ")
	deps.Logger.Info("reloaded", "what", summary)
	return summary
}

// PrintTable writes the listener table like ss -ltn: service, address,
// state, in tr's language.
func PrintTable(w io.Writer, eps []service.Endpoint, tr *i18n.Printer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, tr.T("SERVICE\tPROTO\tADDRESS\tSTATE"))
	for _, e := range eps {
		svc := e.Service
		if e.TLS {
			svc += " (TLS)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", svc, e.Network, e.Addr, tr.T(e.State))
	}
	tw.Flush()
}

// LogLevel maps the config's level names; trace is below debug and is the
// only level at which services may log protocol lines (never secrets).
func LogLevel(s string) slog.Level {
	switch s {
	case "trace":
		return slog.LevelDebug - 4
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// notifySystemd implements sd_notify without a dependency: one datagram to
// $NOTIFY_SOCKET, nothing when not under systemd.
func notifySystemd(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

// defaultLogger writes structured journal entries when systemd connected
// stderr to the journal (`journalctl -u labd SERVICE=smtp USER=alice`),
// text lines on stderr otherwise.
func defaultLogger(level slog.Leveler) *slog.Logger {
	if journal.StderrIsJournal() {
		if h, err := journal.New(journal.SocketPath, "labd", level); err == nil {
			return slog.New(h)
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// noteThrottle marks the session of a throttled login attempt, so that the
// teacher sees it in labd sessions and on the dashboard next to the log
// line.
func noteThrottle(reg *sessions.Registry) func(protocol, remote, user string, wait time.Duration, refused bool) {
	return func(protocol, remote, user string, wait time.Duration, refused bool) {
		for _, in := range reg.Live() {
			if in.Remote != remote {
				continue
			}
			if s, ok := reg.Get(in.ID); ok {
				what := fmt.Sprintf("delayed %s", wait.Round(time.Millisecond))
				if refused {
					what = "refused without checking the password"
				}
				s.SetAttr("auth_throttled", user)
				s.Notef("auth throttled (user %s, %s): too many failed logins for this account from this address", user, what)
			}
			return
		}
	}
}

func guardOptions(a config.AuthThrottle, reg *sessions.Registry) authguard.Options {
	return authguard.Options{
		FreeTries: a.FreeTries, PairMaxGap: a.MaxGap.D(), AccountGap: a.AccountGap.D(),
		AddressFreeFailures: a.AddressFreeFailures, AddressGap: a.AddressGap.D(),
		MaxWait: a.MaxWait.D(), Forget: a.Forget.D(), OnThrottle: noteThrottle(reg),
	}
}

// Package labtest starts labd pieces for tests: shared dependencies in a
// temporary data directory, one service on ephemeral ports, or the whole
// daemon through the same code path as `labd serve`. It also decides what a
// test does when an external client (swaks, dig, lftp...) is missing: skip
// locally, fail in CI (LABD_REQUIRE_TOOLS=1).
package labtest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/service"
	"labd/services"
)

// BcryptCost keeps password hashing fast in tests.
const BcryptCost = 4

// Logger returns a logger that writes to the test log (visible with -v or
// on failure).
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter drops what a goroutine logs after its test ended, which
// testing would otherwise turn into a panic.
type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Logf("%s", p)
	}
	return len(p), nil
}

// Config returns the lab profile on ephemeral ports with state in a fresh
// temporary directory; edit it before passing it on.
func Config(t testing.TB) *config.Config {
	c := config.LabEphemeral(t.TempDir())
	// Tests read English texts whatever the developer's LANG says.
	c.Server.Language = "en"
	c.Shell.Motd = config.DefaultMotd("en")
	return c
}

// Deps prepares the shared dependencies of cfg (store with alice/alice and
// bob/bob, homes, TLS, registry), closed when the test ends.
func Deps(t testing.TB, cfg *config.Config) service.Deps {
	t.Helper()
	d, err := daemon.Prepare(cfg, Logger(t), BcryptCost)
	if err != nil {
		t.Fatalf("prepare deps: %v", err)
	}
	t.Cleanup(func() {
		// The exercise tracker writes into the data directory: it must
		// be done before the test's temporary directory goes.
		if d.Exercises != nil {
			d.Exercises.Close()
		}
		d.Store.Close()
	})
	return d
}

// Start binds and serves one service and shuts it down when the test
// ends. It returns the bound endpoints.
func Start(t testing.TB, s service.Service) []service.Endpoint {
	t.Helper()
	eps, _ := StartStoppable(t, s, 5*time.Second)
	return eps
}

// StartStoppable is Start that also returns a stop doing what SIGTERM
// does: Serve ends (the listeners close), then Shutdown drains with the
// grace period given. stop reports how long Shutdown took and what it
// returned; it runs once, at the latest when the test ends (where its
// error is ignored, as Start's: tests leave transfers hanging).
func StartStoppable(t testing.TB, s service.Service, grace time.Duration) ([]service.Endpoint, func() (time.Duration, error)) {
	t.Helper()
	eps, err := s.Bind()
	if err != nil {
		t.Fatalf("bind %s: %v", s.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	var took time.Duration
	var serr error
	stop := func() (time.Duration, error) {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: serve: %v", s.Name(), err)
			}
			sctx, scancel := context.WithTimeout(context.Background(), grace)
			defer scancel()
			began := time.Now()
			serr = s.Shutdown(sctx)
			took = time.Since(began)
		})
		return took, serr
	}
	t.Cleanup(func() { _, _ = stop() })
	return eps, stop
}

// Addr returns the address of the first endpoint of service on network.
func Addr(t testing.TB, eps []service.Endpoint, svc, network string) string {
	t.Helper()
	for _, e := range eps {
		if e.Service == svc && e.Network == network {
			return e.Addr
		}
	}
	t.Fatalf("no %s endpoint for %s in %v", network, svc, eps)
	return ""
}

// Daemon is a running in-process labd.
type Daemon struct {
	Deps      service.Deps
	Endpoints []service.Endpoint
	signals   chan os.Signal
	done      chan error
	Stdout    *SyncBuffer
}

// StartDaemon runs the whole daemon (daemon.Run, every enabled service)
// with cfg until the test ends.
func StartDaemon(t testing.TB, cfg *config.Config) *Daemon {
	t.Helper()
	d := &Daemon{signals: make(chan os.Signal, 4), done: make(chan error, 1), Stdout: &SyncBuffer{}}
	ready := make(chan service.Deps, 1)
	go func() {
		d.done <- daemon.Run(context.Background(), cfg, daemon.Options{
			Builders:   services.All(),
			Stdout:     d.Stdout,
			Logger:     Logger(t),
			Signals:    d.signals,
			BcryptCost: BcryptCost,
			Ready:      func(deps service.Deps) { ready <- deps },
		})
	}()
	select {
	case deps := <-ready:
		d.Deps = deps
		d.Endpoints = deps.Endpoints.List()
	case err := <-d.done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	t.Cleanup(func() {
		select {
		case <-d.done:
			return
		default:
		}
		d.signals <- syscall.SIGTERM
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s of SIGTERM")
		}
	})
	return d
}

// Signal sends a signal to the daemon (SIGHUP, SIGTERM).
func (d *Daemon) Signal(s os.Signal) { d.signals <- s }

// Wait returns the daemon's exit error once it stopped.
func (d *Daemon) Wait(timeout time.Duration) (error, bool) {
	select {
	case err := <-d.done:
		d.done <- err
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Addr returns the first address of a service.
func (d *Daemon) Addr(t testing.TB, svc, network string) string {
	return Addr(t, d.Endpoints, svc, network)
}

// Tool returns the path of an external client, skipping the test when it is
// missing, or failing it when LABD_REQUIRE_TOOLS=1 (CI installs them all).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("LABD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (LABD_REQUIRE_TOOLS=1) but not on PATH: .ci/run must install it", name)
	}
	skipOrFail(t, name+" not installed: skipping this external-client test (CI installs it; see .ci/run)")
	return ""
}

// Require states a precondition other than a client on PATH (root to bind
// port 20, a run without -short): when ok is false the test is skipped
// locally and fails when LABD_REQUIRE_TOOLS=1, since CI runs as root,
// without -short, and must run every test. Tests never call t.Skip
// themselves: this and Tool are the only places that decide.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if !ok {
		skipOrFail(t, "needs "+what)
	}
}

func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("LABD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s, and LABD_REQUIRE_TOOLS=1 requires every test to run (see .ci/run)", why)
	}
	t.Skip(why)
}

// Dial connects with a timeout and a deadline for the whole test exchange.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

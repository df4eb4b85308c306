package labtest

import (
	"labd/internal/daemon"

	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"labd/config"
	"labd/internal/service"
)

// PanicLog is a logger for fuzz targets: service.Recover turns a panic in
// a session into an Error log line and goes on, which would hide the very
// crash a fuzzer looks for. Logger logs nothing (fuzzing is too fast for
// the test log) but remembers every record that carries a panic.
type PanicLog struct {
	mu     sync.Mutex
	panics []string
}

// Logger returns the logger to put in service.Deps.
func (p *PanicLog) Logger() *slog.Logger { return slog.New(panicHandler{p: p}) }

// Take returns the panics logged since the last call and forgets them.
func (p *PanicLog) Take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.panics
	p.panics = nil
	return out
}

type panicHandler struct{ p *PanicLog }

func (h panicHandler) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps service.Recover's records (a "panic" attribute), go-smtp's
// "panic serving" (its ErrorLog goes to the log at Debug level) and the
// SMTP line filter's recovered panic; not a client's text that happens to
// say "panic".
func (h panicHandler) Handle(_ context.Context, r slog.Record) error {
	var msg string
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case a.Key == "panic":
			msg = r.Message + ": " + a.Value.String()
		case a.Key == "stack" && msg != "":
			msg += "\n" + a.Value.String()
			return false
		case r.Message == "go-smtp" && a.Key == "msg" && strings.HasPrefix(a.Value.String(), "panic serving"):
			msg = a.Value.String()
		case a.Key == "err" && strings.Contains(a.Value.String(), "line filter panicked"):
			msg = a.Value.String()
		}
		return true
	})
	if msg != "" {
		h.p.mu.Lock()
		h.p.panics = append(h.p.panics, msg)
		h.p.mu.Unlock()
	}
	return nil
}

func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicHandler) WithGroup(string) slog.Handler      { return h }

// Step is one exchange that drives a session into the state to fuzz: the
// client sends Send, then reads until Expect shows up.
type Step struct{ Send, Expect string }

// Session describes how to fuzz one server's session state machine.
type Session struct {
	// Serve runs the server side of one connection and returns when the
	// session ended.
	Serve func(net.Conn)
	// Greeting is what the server says first (read before the steps).
	Greeting string
	// Bye is sent after the fuzzed input: it ends a line the input left
	// open and asks the server to close (QUIT).
	Bye string
	// MustClose: after Bye the server closes by itself. Without it (a
	// shell may legitimately wait for more input) the client hangs up and
	// the server must notice.
	MustClose bool
	Panics    *PanicLog
}

// sessionDeadline is what a loaded 2-core machine under -race keeps for
// one exchange; a healthy session answers within milliseconds.
const sessionDeadline = 20 * time.Second

// Run drives one session over a net.Pipe: greeting, steps, then input and
// Bye while the replies are drained. It fails t when a step does not get
// its answer, when the server neither answers nor closes (MustClose), when
// the server is still running after the client hung up, or when anything
// panicked, even a panic that a recover turned into a log line.
func (s Session) Run(t testing.TB, steps []Step, input []byte) {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(server)
	}()
	defer func() {
		client.Close()
		select {
		case <-done:
		case <-time.After(sessionDeadline):
			t.Errorf("the server still runs %s after the client hung up (input %q)", sessionDeadline, input)
		}
		if p := s.Panics.Take(); len(p) > 0 {
			t.Errorf("panic (input %q):\n%s", input, p[0])
		}
	}()
	var seen []byte
	buf := make([]byte, 4096)
	expect := func(want string) {
		t.Helper()
		_ = client.SetReadDeadline(time.Now().Add(sessionDeadline))
		for !bytes.Contains(seen, []byte(want)) {
			n, err := client.Read(buf)
			seen = append(seen, buf[:n]...)
			if err != nil {
				t.Fatalf("waiting for %q: %v (got %q)", want, err, seen)
			}
		}
		seen = seen[bytes.Index(seen, []byte(want))+len(want):]
	}
	if s.Greeting != "" {
		expect(s.Greeting)
	}
	for _, st := range steps {
		_ = client.SetWriteDeadline(time.Now().Add(sessionDeadline))
		if _, err := io.WriteString(client, st.Send); err != nil {
			t.Fatalf("send %q: %v", st.Send, err)
		}
		expect(st.Expect)
	}
	// The pipe is synchronous: write in the background, drain here.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_ = client.SetWriteDeadline(time.Now().Add(sessionDeadline))
		if _, err := client.Write(input); err != nil {
			return
		}
		_, _ = io.WriteString(client, s.Bye)
	}()
	defer func() { client.Close(); <-wrote }()
	// Short reads in a loop: the client notices both the server closing
	// and, without MustClose, the end of its own writes.
	end := time.Now().Add(sessionDeadline)
	for {
		_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := client.Read(buf)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed by the server
		}
		if !s.MustClose {
			select {
			case <-wrote:
				return // all sent; now hang up
			default:
			}
		}
		if time.Now().After(end) {
			t.Fatalf("the server neither answered nor closed within %s (input %q)", sessionDeadline, input)
		}
	}
}

// FuzzDeps prepares the dependencies of cfg (as Deps) for a fuzz target:
// the services built from them log to the returned PanicLog only.
func FuzzDeps(t testing.TB, cfg *config.Config) (service.Deps, *PanicLog) {
	t.Helper()
	p := &PanicLog{}
	// A fuzzed session may fail logins over and over: the guard's gaps are
	// made negligible so that no iteration waits, and the next iteration's
	// own login is never refused for the previous ones' failures.
	cfg.AuthThrottle.MaxGap = config.Duration(time.Nanosecond)
	cfg.AuthThrottle.AccountGap = config.Duration(time.Nanosecond)
	cfg.AuthThrottle.AddressGap = config.Duration(time.Nanosecond)
	// Everything built here logs to the panic log, never to t: a log line
	// from inside a fuzz target (the auth guard's "throttled") would make
	// testing panic.
	d, err := daemon.Prepare(cfg, p.Logger(), BcryptCost)
	if err != nil {
		t.Fatalf("prepare deps: %v", err)
	}
	t.Cleanup(func() {
		if d.Exercises != nil {
			d.Exercises.Close()
		}
		d.Store.Close()
	})
	return d, p
}

package labtest

import (
	"context"
	"log/slog"
	"sync"
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

func (h panicHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h panicHandler) Handle(_ context.Context, r slog.Record) error {
	var msg string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "panic" {
			msg = r.Message + ": " + a.Value.String()
		}
		if a.Key == "stack" && msg != "" {
			msg += "\n" + a.Value.String()
			return false
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

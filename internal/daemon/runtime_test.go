package daemon

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"

	"labd/config"
)

// The runtime section sets the GC percent and memory limit, and the
// environment variables win over it.
func TestApplyRuntime(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := config.Runtime{GCPercent: 400, MemoryLimitMiB: 512}
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{"config", nil, 400, 512 << 20},
		{"GOGC set", map[string]string{"GOGC": "150"}, 100, 512 << 20},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 400, 1 << 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 40)
			applyRuntime(rc, logger, func(k string) string { return tc.env[k] })
			if got := debug.SetGCPercent(100); got != tc.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}

package daemon

import (
	"log/slog"
	"runtime/debug"

	"labd/config"
)

// applyRuntime sets the garbage collector's percent and soft memory limit
// from the runtime section (config/runtime.go says why), unless the GOGC
// or GOMEMLIMIT environment variable already set them. getenv is
// os.Getenv outside tests.
func applyRuntime(rc config.Runtime, logger *slog.Logger, getenv func(string) string) {
	if getenv("GOGC") == "" && rc.GCPercent > 0 {
		debug.SetGCPercent(rc.GCPercent)
	}
	if getenv("GOMEMLIMIT") == "" && rc.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(rc.MemoryLimitMiB) << 20)
	}
	logger.Debug("garbage collector", "gc_percent", rc.GCPercent, "memory_limit_mib", rc.MemoryLimitMiB,
		"GOGC", getenv("GOGC"), "GOMEMLIMIT", getenv("GOMEMLIMIT"))
}

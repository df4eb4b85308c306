package config

// Runtime tunes Go's garbage collector for the whole daemon.
//
// A short connection (an HTTP request with Connection: close, a DNS
// query) allocates a few KB that are garbage at once, while the live heap
// stays small (10-15 MB under load: transcripts, caches), so with Go's
// default (GC percent 100) a collection runs every few MB allocated and
// marks the whole live heap each time: its background marking was 5.6%
// of the CPU of a Connection: close request, 1.2% at 400
// (docs/performance.md, HTTP fifth round). A
// higher GC percent collects less often, at the cost of a larger heap;
// the soft memory limit bounds that cost: as the heap nears it, the
// collector runs as often as needed to stay under it (Go's
// debug.SetMemoryLimit), so the heap never grows past it for the GC
// percent's sake.
//
// The GOGC and GOMEMLIMIT environment variables, when set, take
// precedence over these settings.
type Runtime struct {
	// GCPercent is Go's GOGC: a collection runs when the heap has grown
	// by this percentage of the live heap since the last one. 100 is
	// Go's default.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is the soft limit of the memory the Go runtime
	// holds, in MiB (Go's GOMEMLIMIT).
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

func (r *Runtime) setDefaults(c *Config) {
	if r.GCPercent == 0 {
		// The heap may grow to 5 times the live heap before a
		// collection: 10-15 MB live under load, 50-75 MB.
		r.GCPercent = 400
	}
	if r.MemoryLimitMiB == 0 {
		// With GC percent 400, the limit takes over from a live heap
		// of about 100 MiB; up to a live heap of 256 MiB the collector
		// still runs no more often than with Go's default.
		r.MemoryLimitMiB = 512
	}
}

func (r *Runtime) validate(v *validator) {
	if r.GCPercent < 50 || r.GCPercent > 1000 {
		v.errorf("runtime.gc_percent", "%d is outside 50..1000 (100 is Go's default, 400 labd's)", r.GCPercent)
	}
	if r.MemoryLimitMiB < 64 {
		v.errorf("runtime.memory_limit_mib", "%d MiB is too small: labd needs about 64 MiB under load", r.MemoryLimitMiB)
	}
}

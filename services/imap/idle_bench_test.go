package imap_test

import (
	"bytes"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"labd/internal/labtest"
	imapsvc "labd/services/imap"
)

// BenchmarkIdleConnections opens 500 IMAP connections, reads each
// greeting and leaves them idle (as a class's mail clients between
// checks), and reports the Go heap and stack they hold per connection
// (issue target: under 8 KiB). The client's side is in the same process
// and counted too (a bare socket each, a few hundred bytes).
func BenchmarkIdleConnections(b *testing.B) {
	const n = 500
	cfg := labtest.Config(b)
	cfg.IMAP.MaxConnsPerIP = n + 10
	d := labtest.Deps(b, cfg)
	svc, err := imapsvc.NewService(d)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "imap", "tcp")
	buf := make([]byte, 512)
	for i := 0; i < b.N; i++ {
		before, stackBefore, gBefore := inUse(), stackInUse(), runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for j := 0; j < n; j++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("connection %d: %v", j, err)
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if k, err := c.Read(buf); err != nil || !bytes.HasPrefix(buf[:k], []byte("* OK")) {
				b.Fatalf("connection %d: greeting %q %v", j, buf[:k], err)
			}
			conns = append(conns, c)
		}
		if i == 0 {
			// Later rounds push the first round's finished sessions out
			// of the registry's history, which frees memory while they
			// measure: only the first round counts.
			b.ReportMetric(float64(inUse()-before)/n, "B/idle-conn")
			// The parts: goroutine stacks (the server's and, a few
			// hundred bytes, none on the client side: it does not read)
			// and goroutines per connection.
			b.ReportMetric(float64(stackInUse()-stackBefore)/n, "stack-B/idle-conn")
			b.ReportMetric(float64(runtime.NumGoroutine()-gBefore)/n, "goroutines/idle-conn")
			if p := os.Getenv("LABD_IDLE_HEAPPROFILE"); p != "" {
				writeHeapProfile(b, p)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		// The next round starts when the server let these go: memory
		// freed while it measures would hide its own.
		for deadline := time.Now().Add(30 * time.Second); len(d.Sessions.Live()) > 0; {
			if time.Now().After(deadline) {
				b.Fatalf("%d sessions still open", len(d.Sessions.Live()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// stackInUse is the goroutine stack memory in use.
func stackInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.StackInuse)
}

// writeHeapProfile writes the heap profile at the point of measurement
// (LABD_IDLE_HEAPPROFILE=file; run with -test.memprofilerate=1 to see
// every allocation): what the idle connections hold, not what the run
// allocated.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// inUse is the heap and stack memory in use after a collection.
func inUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

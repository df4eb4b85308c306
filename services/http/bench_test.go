package http_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	httpsvc "labd/services/http"
)

// BenchmarkStaticFile fetches a static file over one keep-alive
// connection, session recording on: a 1 KB page (served from memory after
// the first request) and a 1 MB file (sent with sendfile through the
// recording conn). bench/peers/run.sh compares the same with nginx.
//
//	go test -run ^$ -bench StaticFile ./services/http
func BenchmarkStaticFile(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		name := "1KB"
		if size > 1<<10 {
			name = "1MB"
		}
		b.Run(name, func(b *testing.B) {
			url := "http://" + startFileServer(b, size, nil) + "/f.bin"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != int64(size) || resp.StatusCode != 200 {
					b.Fatalf("%d bytes, status %d: %v", n, resp.StatusCode, err)
				}
			}
		})
	}
}

// BenchmarkStaticFileClose fetches a 1 KB file with one connection per
// request (Connection: close), four clients at a time: what labd pays per
// connection (accept, session registry and recording, net/http's
// connection setup, close). The client is a raw socket, so that its own
// cost stays small. bench/peers/run.sh compares the same with nginx.
//
//	go test -run ^$ -bench StaticFileClose ./services/http
func BenchmarkStaticFileClose(b *testing.B) {
	addr := startFileServer(b, 1<<10, func(cfg *config.Config) {
		cfg.HTTP.MaxConnsPerIP = 1000
		// As in bench/peers/run.sh (a config file: no built-in
		// exercises). With exercises on, each anonymous session finished
		// costs a copy of the whole registry (see docs/performance.md),
		// which would make this benchmark's time grow with b.N.
		off := false
		cfg.Exercises.Builtin = &off
	})
	req := []byte("GET /f.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
	b.SetParallelism(2)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				c.Close()
				return
			}
			n := 0
			for {
				m, err := c.Read(buf[n:])
				n += m
				if err != nil || n == len(buf) {
					break
				}
			}
			c.Close()
			if n < 1<<10 || !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
				b.Errorf("answer of %d bytes: %.40q", n, buf[:n])
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkStaticFileParallel fetches the 1 KB file over 8 keep-alive
// connections at once (raw sockets, one request in flight on each), as
// wrk -c64 does on a smaller scale: the cached file is requested many
// times per millisecond, so most answers come without a stat call
// (freshFor), and the connections' deadlines and background reads overlap.
//
//	go test -run ^$ -bench StaticFileParallel ./services/http
func BenchmarkStaticFileParallel(b *testing.B) {
	addr := startFileServer(b, 1<<10, func(cfg *config.Config) {
		off := false
		cfg.Exercises.Builtin = &off
	})
	req := []byte("GET /f.bin HTTP/1.1\r\nHost: bench\r\n\r\n")
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			// The answer is a head and 1 KB of x: read until the body
			// is complete.
			n := 0
			for {
				m, err := c.Read(buf[n:])
				n += m
				if err != nil {
					b.Error(err)
					return
				}
				if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 && n-i-4 >= 1<<10 {
					break
				}
			}
			if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
				b.Errorf("answer of %d bytes: %.40q", n, buf[:n])
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// startFileServer starts the HTTP service with f.bin, size bytes of x, in
// its root (tune, if set, changes the config first) and returns its
// address.
func startFileServer(b *testing.B, size int, tune func(*config.Config)) string {
	cfg := labtest.Config(b)
	cfg.HTTP.Root = b.TempDir()
	if tune != nil {
		tune(cfg)
	}
	if err := os.WriteFile(filepath.Join(cfg.HTTP.Root, "f.bin"), bytes.Repeat([]byte("x"), size), 0o644); err != nil {
		b.Fatal(err)
	}
	svc, err := httpsvc.New(benchDeps(b, cfg))
	if err != nil {
		b.Fatal(err)
	}
	return labtest.Addr(b, labtest.Start(b, svc), "http", "tcp")
}

// benchDeps are the test deps with the service logging at warn, as
// bench/peers/run.sh runs labd: the test logger's debug level would log
// every request and measure that.
func benchDeps(b *testing.B, cfg *config.Config) service.Deps {
	d := labtest.Deps(b, cfg)
	d.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return d
}

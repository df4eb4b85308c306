package http_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"labd/internal/labtest"
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
			cfg := labtest.Config(b)
			cfg.HTTP.Root = b.TempDir()
			data := bytes.Repeat([]byte("x"), size)
			if err := os.WriteFile(filepath.Join(cfg.HTTP.Root, "f.bin"), data, 0o644); err != nil {
				b.Fatal(err)
			}
			svc, err := httpsvc.New(labtest.Deps(b, cfg))
			if err != nil {
				b.Fatal(err)
			}
			url := "http://" + labtest.Addr(b, labtest.Start(b, svc), "http", "tcp") + "/f.bin"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			b.SetBytes(int64(size))
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

package sessions

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// BenchmarkTLSThroughput is BenchmarkThroughput over TLS: the recording
// conn sits under TLS and keeps the ciphertext (for the pcapng export)
// until the transcript bound, then only counts it.
//
//	go test -run ^$ -bench TLSThroughput -count 6 ./internal/sessions | benchstat -
func BenchmarkTLSThroughput(b *testing.B) {
	cert := selfSigned(b)
	for _, mode := range []string{"plain", "recorded"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			reg := New(Options{KeyLog: true})
			var l net.Listener = ln
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
			if mode == "recorded" {
				l = Listen(reg, ln, ListenerOptions{Proto: "bench"})
				cfg.KeyLogWriter = reg.KeyLogWriter()
			}
			chunk := make([]byte, 32<<10)
			const total = 16 << 20
			b.SetBytes(total)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				done := make(chan struct{})
				go func() {
					defer close(done)
					c, err := l.Accept()
					if err != nil {
						return
					}
					tc := tls.Server(c, cfg)
					io.Copy(io.Discard, tc)
					tc.Close()
				}()
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < total; sent += len(chunk) {
					c.Write(chunk)
				}
				c.Close()
				<-done
			}
		})
	}
}

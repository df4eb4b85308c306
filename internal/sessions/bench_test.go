package sessions

import (
	"io"
	"net"
	"testing"
)

// BenchmarkThroughput compares a bulk transfer over loopback through a
// plain accepted socket and through the recording conn (whose transcript
// fills up after 64 KiB, as in production). The target: recording
// costs under 5% of the throughput.
//
//	go test -run ^$ -bench Throughput -count 6 ./internal/sessions | benchstat -
func BenchmarkThroughput(b *testing.B) {
	for _, mode := range []string{"plain", "recorded"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var l net.Listener = ln
			if mode == "recorded" {
				l = Listen(New(Options{}), ln, ListenerOptions{Proto: "bench"})
			}
			chunk := make([]byte, 32<<10)
			const total = 64 << 20
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
					io.Copy(io.Discard, c)
					c.Close()
				}()
				c, err := net.Dial("tcp", ln.Addr().String())
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

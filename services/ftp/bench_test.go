package ftp_test

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"labd/internal/labtest"
	labftp "labd/services/ftp"
)

// BenchmarkRetrBinary measures a passive binary download over loopback
// (the target: 1 GB/s for a 1 GiB file; run with -benchtime=3x).
func BenchmarkRetrBinary(b *testing.B) {
	const size = 256 << 20
	cfg := labtest.Config(b)
	deps := labtest.Deps(b, cfg)
	svc, err := labftp.NewService(deps)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "ftp", "tcp")
	f, err := os.Create(deps.Layout.Home("alice") + "/bench.bin")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, bytes.NewReader(make([]byte, size)), size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "alice"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		r, err := c.Retr("bench.bin")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil || n != size {
			b.Fatalf("got %d bytes: %v", n, err)
		}
	}
}

// BenchmarkStorBinary measures a passive binary upload over loopback, the
// data spliced from the socket into the file once the transcript is full.
func BenchmarkStorBinary(b *testing.B) {
	const size = 256 << 20
	cfg := labtest.Config(b)
	deps := labtest.Deps(b, cfg)
	svc, err := labftp.NewService(deps)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "ftp", "tcp")
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "alice"); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if err := c.Stor("up.bin", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(deps.Layout.Home("alice") + "/up.bin"); err != nil || fi.Size() != size {
		b.Fatalf("stored %v: %v", fi, err)
	}
}

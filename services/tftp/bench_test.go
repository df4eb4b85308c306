package tftp_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"labd/internal/labtest"
)

// BenchmarkRead32MB reads a 32 MB file with blksize 1428 (the largest that
// fits an Ethernet frame) from labd, and from tftpd-hpa when in.tftpd is
// on PATH or named by LABD_IN_TFTPD, with the same client, for
// comparison:
//
//	go test -run XXX -bench Read32MB ./services/tftp/
func BenchmarkRead32MB(b *testing.B) {
	const size = 32 << 20
	b.Run("labd", func(b *testing.B) {
		e := start(b, nil)
		randomFile(b, filepath.Join(e.root, "bench.bin"), size)
		benchRead(b, e.addr)
	})
	b.Run("tftpd-hpa", func(b *testing.B) {
		bin := os.Getenv("LABD_IN_TFTPD")
		if bin == "" {
			bin = labtest.Tool(b, "in.tftpd") // Debian package tftpd-hpa
		}
		dir := b.TempDir()
		randomFile(b, filepath.Join(dir, "bench.bin"), size)
		addr := freeUDP(b)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "--foreground", "--listen", "--address", addr, "--secure", dir)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cancel(); _ = cmd.Wait() })
		// in.tftpd has bound the port when we no longer can.
		deadline := time.Now().Add(10 * time.Second)
		for {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				break
			}
			pc.Close()
			if time.Now().After(deadline) {
				b.Fatalf("in.tftpd did not bind %s within 10 s", addr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		benchRead(b, addr)
	})
}

func benchRead(b *testing.B, addr string) {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		b.Fatal(err)
	}
	c.SetBlockSize(1428)
	c.SetTimeout(2 * time.Second)
	b.SetBytes(32 << 20)
	b.ResetTimer()
	for range b.N {
		wt, err := c.Receive("bench.bin", "octet")
		if err != nil {
			b.Fatal(err)
		}
		n, err := wt.WriteTo(io.Discard)
		if err != nil || n != 32<<20 {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

func freeUDP(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	return "127.0.0.1:" + strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
}

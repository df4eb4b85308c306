package sessions

import (
	"bytes"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// A download through io.Copy(conn, file) and an upload through
// io.Copy(file, conn) arrive byte-identical, are counted in full, and the
// transcript keeps its bounded beginning.
func TestZeroCopyPassThrough(t *testing.T) {
	data := make([]byte, 9<<20+123) // more than two zero-copy chunks
	rand.New(rand.NewSource(1)).Read(data)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"download", "upload"} {
		t.Run(dir, func(t *testing.T) {
			r := New(Options{TranscriptBytes: 4096})
			l, addr := pipeListener(t, r, ListenerOptions{Proto: "data"})
			dst := filepath.Join(t.TempDir(), "dst")
			done := make(chan error, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					done <- err
					return
				}
				defer c.Close()
				if dir == "download" {
					f, _ := os.Open(src)
					defer f.Close()
					// What net/http and ftpserverlib do: a limited file.
					_, err = io.Copy(c, &io.LimitedReader{R: f, N: int64(len(data))})
				} else {
					f, _ := os.Create(dst)
					defer f.Close()
					_, err = io.Copy(f, c)
				}
				done <- err
			}()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if dir == "download" {
				got, err = io.ReadAll(c)
			} else {
				_, err = c.Write(data)
				c.(*net.TCPConn).CloseWrite()
				io.ReadAll(c)
			}
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if dir == "upload" {
				got, _ = os.ReadFile(dst)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%d bytes arrived, not the %d sent", len(got), len(data))
			}
			info := waitClosed(t, r)
			if moved := info.BytesIn + info.BytesOut; moved != int64(len(data)) || !info.Truncated {
				t.Errorf("counted %d bytes (want %d), truncated %v", moved, len(data), info.Truncated)
			}
			s, _ := r.Get(info.ID)
			var held int
			for _, e := range s.Transcript() {
				held += len(e.Data)
			}
			if held == 0 || held > 4096 || !bytes.HasPrefix(data, s.Transcript()[0].Data) {
				t.Errorf("transcript holds %d bytes", held)
			}
		})
	}
}

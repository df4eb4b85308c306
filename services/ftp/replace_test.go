package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplaceUnderLoad: the upload path that exchanges names with the old
// file (replace_linux.go) as a class uses it: two students upload the same
// name at once while others download it. A download begun before gets the
// old file whole; every download gets one of the three versions whole
// (never a part, never "not found"); the name ends with one of the two
// uploads; an upload cut off halfway (the client's connections reset)
// leaves the file as it was. No temporary file stays behind.
func TestReplaceUnderLoad(t *testing.T) {
	e := start(t, nil)
	const size = 3 << 20
	version := func(v byte) []byte { return bytes.Repeat([]byte{v}, size) }
	old, a, b := version('o'), version('a'), version('b')
	if err := os.WriteFile(e.home("alice", "shared.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	whole := func(got []byte) bool {
		return bytes.Equal(got, old) || bytes.Equal(got, a) || bytes.Equal(got, b)
	}

	// A download begun before the uploads, read slowly.
	early := e.dial(t, "alice", "alice")
	er, err := early.Retr("shared.bin")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 4096)
	if _, err := io.ReadFull(er, first); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Downloads all the while.
	for range 2 {
		c := e.dial(t, "alice", "alice")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.Retr("shared.bin")
				if err != nil {
					t.Errorf("RETR during the uploads: %v", err)
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !whole(got) {
					t.Errorf("RETR during the uploads: %d bytes, %v: not one version whole", len(got), err)
					return
				}
			}
		}()
	}
	var up sync.WaitGroup
	for _, content := range [][]byte{a, b} {
		c := e.dial(t, "alice", "alice")
		up.Add(1)
		go func() {
			defer up.Done()
			if err := c.Stor("shared.bin", bytes.NewReader(content)); err != nil {
				t.Errorf("STOR: %v", err)
			}
		}()
	}
	up.Wait()
	close(stop)
	wg.Wait()
	rest, err := io.ReadAll(er)
	er.Close()
	if got := append(first, rest...); err != nil || !bytes.Equal(got, old) {
		t.Errorf("download begun before the uploads: %d bytes, %v; want the old file whole", len(got), err)
	}
	final, err := os.ReadFile(e.home("alice", "shared.bin"))
	if err != nil || !(bytes.Equal(final, a) || bytes.Equal(final, b)) {
		t.Fatalf("after both uploads: %d bytes, %v; want one of them whole", len(final), err)
	}

	// An upload cut off halfway: both connections reset.
	conn, r := login(t, e.addr)
	dc, _ := epsv(t, conn, r)
	send(t, conn, r, "TYPE I", "200")
	send(t, conn, r, "STOR shared.bin", "150")
	if _, err := dc.Write(version('x')[:size/2]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []net.Conn{dc, conn} {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := uploadsLeft(t, e.home("alice"))
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporary files left behind: %s", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := os.ReadFile(e.home("alice", "shared.bin")); err != nil || !bytes.Equal(got, final) {
		t.Errorf("after an upload cut off: %d bytes, %v; want the file as it was", len(got), err)
	}
}

func uploadsLeft(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".labd-upload-") {
			fi, _ := en.Info()
			left = append(left, fmt.Sprintf("%s (%d bytes)", en.Name(), fi.Size()))
		}
	}
	return strings.Join(left, ", ")
}

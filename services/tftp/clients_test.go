package tftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
)

// run executes an external client in dir and returns its combined output
// and exit code.
func run(t *testing.T, dir string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out; output:\n%s", name, args, out)
	}
	return string(out), code
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func sameFile(t *testing.T, got string, want []byte) {
	t.Helper()
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("read %s: %v", got, err)
	}
	if sha256.Sum256(b) != sha256.Sum256(want) {
		t.Fatalf("%s: %d bytes, differ from the %d expected", got, len(b), len(want))
	}
}

func TestCurl(t *testing.T) {
	curl := labtest.Tool(t, "curl")
	e := start(t, nil)
	data := randomFile(t, filepath.Join(e.root, "c.bin"), 3<<20)
	dir := t.TempDir()
	base := "tftp://" + e.addr + "/"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default options (blksize 512, tsize 0, timeout)", nil},
		{"blksize 1428", []string{"--tftp-blksize", "1428"}},
		{"blksize 16384", []string{"--tftp-blksize", "16384"}},
		{"no options", []string{"--tftp-no-options"}},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "get.bin")
			if msg, code := run(t, dir, curl, append(append([]string{"-sS", "-o", out}, tc.args...), base+"c.bin")...); code != 0 {
				t.Fatalf("curl exit %d: %s", code, msg)
			}
			sameFile(t, out, data)
		})
		t.Run("upload "+tc.name, func(t *testing.T) {
			src := filepath.Join(e.root, "c.bin")
			name := "up" + strings.Join(tc.args, "") + ".bin"
			if msg, code := run(t, dir, curl, append(append([]string{"-sS", "-T", src}, tc.args...), base+"upload/"+name)...); code != 0 {
				t.Fatalf("curl exit %d: %s", code, msg)
			}
			sameFile(t, filepath.Join(e.root, "upload", name), data)
		})
	}
	// curl maps each TFTP error code to its own exit status.
	randomFile(t, filepath.Join(e.root, "upload", "taken"), 10)
	for _, tc := range []struct {
		name string
		args []string
		exit int
	}{
		{"file not found (1) → 68", []string{base + "missing"}, 68},
		{"access violation (2) → 69", []string{"-T", filepath.Join(e.root, "c.bin"), base + "notupload.bin"}, 69},
		{"file exists (6) → 73", []string{"-T", filepath.Join(e.root, "c.bin"), base + "upload/taken"}, 73},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, code := run(t, dir, curl, append([]string{"-sS", "-o", filepath.Join(dir, "x")}, tc.args...)...)
			if code != tc.exit {
				t.Errorf("curl exit %d, want %d: %s", code, tc.exit, msg)
			}
		})
	}
}

func TestTftpHpa(t *testing.T) {
	tftp := labtest.Tool(t, "tftp")
	e := start(t, nil)
	host, port := hostPort(t, e.addr)
	data := randomFile(t, filepath.Join(e.root, "h.bin"), 2<<20)
	text := "first line\nsecond line\n"
	if err := os.WriteFile(filepath.Join(e.root, "h.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hpa := func(t *testing.T, args ...string) string {
		t.Helper()
		msg, code := run(t, dir, tftp, append([]string{host, port}, args...)...)
		if code != 0 {
			t.Fatalf("tftp exit %d: %s", code, msg)
		}
		return msg
	}
	t.Run("binary get", func(t *testing.T) {
		hpa(t, "-m", "binary", "-c", "get", "h.bin", "h.bin")
		sameFile(t, filepath.Join(dir, "h.bin"), data)
	})
	t.Run("binary put", func(t *testing.T) {
		hpa(t, "-m", "binary", "-c", "put", "h.bin", "upload/h.bin")
		sameFile(t, filepath.Join(e.root, "upload", "h.bin"), data)
	})
	t.Run("verbose binary get", func(t *testing.T) {
		msg := hpa(t, "-m", "binary", "-v", "-c", "get", "h.bin", "v.bin")
		if !strings.Contains(msg, "Received 2097152 bytes") {
			t.Errorf("verbose output: %s", msg)
		}
		sameFile(t, filepath.Join(dir, "v.bin"), data)
	})
	t.Run("ascii get and put (default mode netascii)", func(t *testing.T) {
		hpa(t, "-c", "get", "h.txt", "h.txt")
		sameFile(t, filepath.Join(dir, "h.txt"), []byte(text))
		hpa(t, "-c", "put", "h.txt", "upload/h.txt")
		sameFile(t, filepath.Join(e.root, "upload", "h.txt"), []byte(text))
	})
	t.Run("errors are printed with their code", func(t *testing.T) {
		for _, tc := range []struct{ args, want string }{
			{"get missing.bin", "Error code 1"},
			{"get ../labd.db", "Error code 2"},
			{"put h.bin outside.bin", "Error code 2"},
			{"put h.bin upload/h.bin", "Error code 6"},
		} {
			msg, _ := run(t, dir, tftp, append([]string{host, port, "-m", "binary", "-c"}, strings.Fields(tc.args)...)...)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %q, want %q", tc.args, msg, tc.want)
			}
		}
	})
}

func TestAtftp(t *testing.T) {
	// A second client besides tftp-hpa and curl: atftp asks for options
	// (windowsize, timeout) that the others do not.
	atftp := labtest.Tool(t, "atftp")
	e := start(t, nil)
	host, port := hostPort(t, e.addr)
	data := randomFile(t, filepath.Join(e.root, "a.bin"), 3<<20)
	dir := t.TempDir()
	t.Run("get with blksize, tsize, timeout, windowsize", func(t *testing.T) {
		msg, code := run(t, dir, atftp, "--get", "-r", "a.bin", "-l", "a.bin", "--trace",
			"--option", "blksize 1428", "--option", "tsize 0", "--option", "timeout 3", "--option", "windowsize 4", host, port)
		if code != 0 {
			t.Fatalf("atftp exit %d: %s", code, msg)
		}
		sameFile(t, filepath.Join(dir, "a.bin"), data)
		// blksize and tsize are acknowledged; timeout and windowsize are
		// left out of the OACK (RFC 2347: the client then does without).
		if !strings.Contains(msg, "tsize: 3145728") || !strings.Contains(msg, "blksize: 1428") {
			t.Errorf("OACK not as expected:\n%.600s", msg)
		}
	})
	t.Run("put with blksize", func(t *testing.T) {
		msg, code := run(t, dir, atftp, "--put", "-l", "a.bin", "-r", "upload/a.bin", "--option", "blksize 1428", host, port)
		if code != 0 {
			t.Fatalf("atftp exit %d: %s", code, msg)
		}
		sameFile(t, filepath.Join(e.root, "upload", "a.bin"), data)
	})
	t.Run("netascii", func(t *testing.T) {
		text := []byte("one\ntwo\n")
		if err := os.WriteFile(filepath.Join(e.root, "a.txt"), text, 0o644); err != nil {
			t.Fatal(err)
		}
		if msg, code := run(t, dir, atftp, "--get", "-r", "a.txt", "-l", "a.txt", "--option", "mode netascii", host, port); code != 0 {
			t.Fatalf("atftp exit %d: %s", code, msg)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "a.txt"))
		if !bytes.Equal(got, text) {
			t.Errorf("netascii round trip: %q", got)
		}
	})
}

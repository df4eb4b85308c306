package tftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	"labd/internal/sessions"
	tftpsvc "labd/services/tftp"
)

type env struct {
	addr string
	root string // the TFTP root (pub/)
	deps service.Deps
}

// start runs the TFTP service on 127.0.0.1:0; edit tweaks its config.
func start(t testing.TB, edit func(*config.TFTP)) env {
	t.Helper()
	cfg := labtest.Config(t)
	cfg.TFTP.AllowWrite = true
	if edit != nil {
		edit(&cfg.TFTP)
	}
	d := labtest.Deps(t, cfg)
	svc, err := tftpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	return env{addr: labtest.Addr(t, eps, "tftp", "udp"), root: d.Layout.Pub(), deps: d}
}

func (e env) client(t *testing.T, blksize int, tsize bool) *pintftp.Client {
	t.Helper()
	c, err := pintftp.NewClient(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	c.SetRetries(3)
	c.SetBackoff(func(int) time.Duration { return 10 * time.Millisecond })
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(tsize)
	return c
}

// get downloads with pin/tftp's client; it returns the data, the tsize the
// server announced (-1 if none) and the error.
func (e env) get(t *testing.T, file, mode string, blksize int, tsize bool) ([]byte, int64, error) {
	t.Helper()
	wt, err := e.client(t, blksize, tsize).Receive(file, mode)
	if err != nil {
		return nil, -1, err
	}
	size := int64(-1)
	if it, ok := wt.(pintftp.IncomingTransfer); ok {
		if n, ok := it.Size(); ok {
			size = n
		}
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), size, err
}

// put uploads with pin/tftp's client.
func (e env) put(t *testing.T, file, mode string, blksize int, data []byte) error {
	t.Helper()
	rf, err := e.client(t, blksize, false).Send(file, mode)
	if err != nil {
		return err
	}
	_, err = rf.ReadFrom(bytes.NewReader(data))
	return err
}

var codeRE = regexp.MustCompile(`code[:=] ?(\d+)`)

// errCode extracts the TFTP error code from a pin/tftp client error.
func errCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		t.Fatal("expected a TFTP error, got success")
	}
	m := codeRE.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("no TFTP error code in %q", err)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func randomFile(t testing.TB, path string, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestGetAndPut(t *testing.T) {
	e := start(t, nil)
	data := randomFile(t, filepath.Join(e.root, "data.bin"), 100_000)
	for _, tc := range []struct {
		name    string
		blksize int
		tsize   bool
		mode    string
	}{
		{"no options", 0, false, "octet"},
		{"blksize 1428", 1428, false, "octet"},
		{"tsize", 0, true, "octet"},
		{"blksize 8192 and tsize", 8192, true, "octet"},
		{"blksize 65464", 65464, true, "octet"},
		{"mode in capitals", 0, false, "OCTET"},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			got, size, err := e.get(t, "data.bin", tc.mode, tc.blksize, tc.tsize)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, want the %d of the file", len(got), len(data))
			}
			if tc.tsize && size != int64(len(data)) {
				t.Errorf("tsize in OACK = %d, want %d", size, len(data))
			}
			if !tc.tsize && size != -1 {
				t.Errorf("tsize %d announced but not asked for", size)
			}
		})
		t.Run("put "+tc.name, func(t *testing.T) {
			name := "upload/" + strings.ReplaceAll(tc.name, " ", "_")
			if err := e.put(t, name, tc.mode, tc.blksize, data); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(e.root, name))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("uploaded file differs (%d bytes, %v)", len(got), err)
			}
		})
	}
	t.Run("leading slash is the root", func(t *testing.T) {
		got, _, err := e.get(t, "/data.bin", "octet", 0, false)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get /data.bin: %d bytes, %v", len(got), err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(e.root, "empty"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		got, _, err := e.get(t, "empty", "octet", 1428, false)
		if err != nil || len(got) != 0 {
			t.Fatalf("get empty: %d bytes, %v", len(got), err)
		}
	})
	t.Run("exact multiple of the block size", func(t *testing.T) {
		d := randomFile(t, filepath.Join(e.root, "x1024"), 1024)
		got, _, err := e.get(t, "x1024", "octet", 0, false)
		if err != nil || !bytes.Equal(got, d) {
			t.Fatalf("get: %d bytes, %v", len(got), err)
		}
		if err := e.put(t, "upload/x1024", "octet", 0, d); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(e.root, "upload/x1024")); !bytes.Equal(got, d) {
			t.Fatalf("put: %d bytes", len(got))
		}
	})
}

// TestLargeFile moves 40 MB each way (beyond the 32 MB that plain TFTP
// with 512-byte blocks can address) and compares SHA-256 sums.
func TestLargeFile(t *testing.T) {
	labtest.Require(t, !testing.Short(), "a run without -short (a transfer of about 40 MB)")
	e := start(t, nil)
	data := randomFile(t, filepath.Join(e.root, "big.bin"), 40<<20)
	want := sha256.Sum256(data)
	got, size, err := e.get(t, "big.bin", "octet", 8192, true)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != want || size != int64(len(data)) {
		t.Fatalf("get: sha256 differs or tsize %d wrong (%d bytes)", size, len(got))
	}
	if err := e.put(t, "upload/big.bin", "octet", 8192, data); err != nil {
		t.Fatal(err)
	}
	back, err := os.ReadFile(filepath.Join(e.root, "upload/big.bin"))
	if err != nil || sha256.Sum256(back) != want {
		t.Fatalf("put: sha256 differs (%d bytes, %v)", len(back), err)
	}
}

// TestBlockNumberRollover sends more than 65535 blocks, so the 16-bit
// block number wraps (to 0, as tftp-hpa, curl and pin/tftp expect).
func TestBlockNumberRollover(t *testing.T) {
	labtest.Require(t, !testing.Short(), "a run without -short (a transfer of about 40 MB)")
	e := start(t, nil)
	// 70000 blocks of 600 bytes: 42 MB would take long at 512; the wrap
	// only needs the count.
	data := randomFile(t, filepath.Join(e.root, "wrap.bin"), 70000*600+17)
	got, _, err := e.get(t, "wrap.bin", "octet", 600, false)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get past block 65535: %d bytes, %v", len(got), err)
	}
	if err := e.put(t, "upload/wrap.bin", "octet", 600, data); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(filepath.Join(e.root, "upload/wrap.bin")); !bytes.Equal(back, data) {
		t.Fatalf("put past block 65535: %d bytes", len(back))
	}
}

func TestErrors(t *testing.T) {
	e := start(t, nil)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(e.root, "upload", "out")); err != nil {
		t.Fatal(err)
	}
	randomFile(t, filepath.Join(e.root, "upload", "exists.bin"), 10)
	if err := os.Mkdir(filepath.Join(e.root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, mode string
		write            bool
		code             int
	}{
		{"file not found", "nope.txt", "octet", false, 1},
		{"dot dot", "../labd.db", "octet", false, 2},
		{"dot dot inside", "upload/../../labd.db", "octet", false, 2},
		{"absolute path is under the root", "/etc/passwd", "octet", false, 1},
		{"double slash absolute", "//etc/passwd", "octet", false, 2},
		{"symlink out of the root", "link", "octet", false, 2},
		{"directory", "dir", "octet", false, 2},
		{"unknown mode", "README.txt", "binary", false, 4},
		{"mail mode", "README.txt", "mail", false, 4},
		{"write outside upload dir", "new.txt", "octet", true, 2},
		{"write with dot dot", "upload/../new.txt", "octet", true, 2},
		{"write through symlink out", "upload/out/x.txt", "octet", true, 2},
		{"write existing file", "upload/exists.bin", "octet", true, 6},
		{"write into missing dir", "upload/nodir/x.txt", "octet", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.write {
				err = e.put(t, tc.file, tc.mode, 0, []byte("hello"))
			} else {
				_, _, err = e.get(t, tc.file, tc.mode, 0, false)
			}
			if got := errCode(t, err); got != tc.code {
				t.Errorf("error code %d, want %d (%v)", got, tc.code, err)
			}
		})
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret" {
		t.Error("file outside the root was changed")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(outside), "x.txt")); err == nil {
		t.Error("a write escaped through a symlink")
	}
	if _, err := os.Stat(filepath.Join(e.deps.Layout.DataDir, "new.txt")); err == nil {
		t.Error("a write escaped with ..")
	}
	if b, _ := os.ReadFile(filepath.Join(e.root, "upload", "exists.bin")); len(b) != 10 {
		t.Error("existing file overwritten")
	}
	// The server goes on after all this.
	if _, _, err := e.get(t, "README.txt", "octet", 0, false); err != nil {
		t.Fatalf("server broken after errors: %v", err)
	}
}

func TestWritePolicy(t *testing.T) {
	t.Run("writes disabled", func(t *testing.T) {
		e := start(t, func(c *config.TFTP) { c.AllowWrite = false })
		if got := errCode(t, e.put(t, "upload/a.txt", "octet", 0, []byte("x"))); got != 2 {
			t.Errorf("code %d, want 2 (access violation)", got)
		}
		if _, err := os.Stat(filepath.Join(e.root, "upload", "a.txt")); err == nil {
			t.Error("file written although writes are off")
		}
	})
	t.Run("overwrite enabled", func(t *testing.T) {
		e := start(t, func(c *config.TFTP) { c.Overwrite = true })
		for _, s := range []string{"first", "second"} {
			if err := e.put(t, "upload/a.txt", "octet", 0, []byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(e.root, "upload", "a.txt")); string(b) != "second" {
			t.Errorf("content %q, want second", b)
		}
	})
	t.Run("upload dir is the root", func(t *testing.T) {
		e := start(t, func(c *config.TFTP) { c.UploadDir = "." })
		if err := e.put(t, "top.txt", "octet", 0, []byte("top")); err != nil {
			t.Fatal(err)
		}
		if got := errCode(t, e.put(t, "../top.txt", "octet", 0, []byte("x"))); got != 2 {
			t.Errorf("code %d, want 2", got)
		}
	})
	t.Run("max_blksize 512 turns blksize off", func(t *testing.T) {
		e := start(t, func(c *config.TFTP) { c.MaxBlockSize = 512 })
		_, oack, code := rawGet(t, e.addr, "README.txt", "octet", "blksize", "1428", "tsize", "0")
		if code != 0 || strings.Contains(oack, "blksize") || !strings.Contains(oack, "tsize") {
			t.Errorf("OACK %q (error %d), want tsize only", oack, code)
		}
	})
	t.Run("max_blksize caps blksize", func(t *testing.T) {
		e := start(t, func(c *config.TFTP) { c.MaxBlockSize = 1000 })
		_, oack, code := rawGet(t, e.addr, "README.txt", "octet", "blksize", "1428")
		if code != 0 || oack != "blksize 1000 " {
			t.Errorf("OACK %q (error %d), want blksize 1000", oack, code)
		}
	})
	t.Run("file too big", func(t *testing.T) {
		e := start(t, func(c *config.TFTP) { c.MaxFileBytes = 3000 })
		if got := errCode(t, e.put(t, "upload/big", "octet", 0, make([]byte, 5000))); got != 3 {
			t.Errorf("code %d, want 3 (disk full or allocation exceeded)", got)
		}
		waitNoFiles(t, filepath.Join(e.root, "upload"))
	})
}

// waitNoFiles asserts that dir ends up empty (no partial or temporary
// file): the server cleans up right after it sent the ERROR.
func waitNoFiles(t *testing.T, dir string) {
	t.Helper()
	var names []string
	for range 50 {
		ents, _ := os.ReadDir(dir)
		names = names[:0]
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("left in %s: %v", dir, names)
}

// --- raw packets, as Wireshark shows them -------------------------------

type rawClient struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr // port 69 first, then the transfer's TID
}

func newRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, conn: c, server: ua}
}

func request(op uint16, file, mode string, opts ...string) []byte {
	p := binary.BigEndian.AppendUint16(nil, op)
	for _, s := range append([]string{file, mode}, opts...) {
		p = append(append(p, s...), 0)
	}
	return p
}

func (r *rawClient) send(p []byte) {
	if _, err := r.conn.WriteToUDP(p, r.server); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) recv() []byte {
	r.t.Helper()
	buf := make([]byte, 70000)
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		r.t.Fatalf("no answer: %v", err)
	}
	r.server = from
	return buf[:n]
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 4), block)
}

// rawGet reads a file packet by packet and returns the bytes as they were
// on the wire, or the ERROR code.
func rawGet(t *testing.T, addr, file, mode string, opts ...string) (wire []byte, oack string, code int) {
	r := newRaw(t, addr)
	r.send(request(1, file, mode, opts...))
	blk := 512
	for {
		p := r.recv()
		switch binary.BigEndian.Uint16(p) {
		case 5:
			return nil, "", int(binary.BigEndian.Uint16(p[2:]))
		case 6:
			oack = strings.ReplaceAll(string(p[2:]), "\x00", " ")
			f := strings.Fields(oack)
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] == "blksize" {
					blk, _ = strconv.Atoi(f[i+1])
				}
			}
			r.send(ack(0))
		case 3:
			wire = append(wire, p[4:]...)
			r.send(ack(binary.BigEndian.Uint16(p[2:])))
			if len(p)-4 < blk {
				return wire, oack, 0
			}
		default:
			t.Fatalf("unexpected packet %x", p)
		}
	}
}

func TestNetascii(t *testing.T) {
	e := start(t, nil)
	disk := "line one\nline two\rbare CR\n\nend"
	wire := "line one\r\nline two\r\x00bare CR\r\n\r\nend"
	if err := os.WriteFile(filepath.Join(e.root, "text.txt"), []byte(disk), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"netascii", "NETASCII", "NetAscii"} {
		t.Run("get on the wire "+mode, func(t *testing.T) {
			got, oack, code := rawGet(t, e.addr, "text.txt", mode, "tsize", "0")
			if code != 0 {
				t.Fatalf("error %d", code)
			}
			if string(got) != wire {
				t.Errorf("wire %q, want %q", got, wire)
			}
			if want := fmt.Sprintf("tsize %d ", len(wire)); oack != want {
				t.Errorf("OACK %q, want %q (tsize counts the converted bytes)", oack, want)
			}
		})
		t.Run("put "+mode, func(t *testing.T) {
			name := "upload/text-" + mode
			r := newRaw(t, e.addr)
			r.send(request(2, name, mode))
			if p := r.recv(); !bytes.Equal(p, ack(0)) {
				t.Fatalf("answer to WRQ: %x", p)
			}
			r.send(append([]byte{0, 3, 0, 1}, wire...))
			if p := r.recv(); !bytes.Equal(p, ack(1)) {
				t.Fatalf("answer to DATA: %x", p)
			}
			got, err := os.ReadFile(filepath.Join(e.root, name))
			if err != nil || string(got) != disk {
				t.Errorf("on disk %q (%v), want %q", got, err, disk)
			}
		})
	}
	t.Run("pin/tftp client round trip", func(t *testing.T) {
		got, _, err := e.get(t, "text.txt", "netascii", 0, false)
		if err != nil || string(got) != disk {
			t.Fatalf("get %q, %v", got, err)
		}
		if err := e.put(t, "upload/rt.txt", "netascii", 0, []byte("a\nb\n")); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(e.root, "upload/rt.txt")); string(b) != "a\nb\n" {
			t.Errorf("on disk %q", b)
		}
	})
	t.Run("octet is byte exact", func(t *testing.T) {
		got, _, code := rawGet(t, e.addr, "text.txt", "octet")
		if code != 0 || string(got) != disk {
			t.Errorf("octet wire %q (error %d)", got, code)
		}
	})
}

func TestRawErrorPackets(t *testing.T) {
	e := start(t, nil)
	// The ERROR comes from a new port (the server's TID) with the right
	// code and a readable text, as RFC 1350 says.
	r := newRaw(t, e.addr)
	port := r.server.Port
	r.send(request(1, "missing", "octet"))
	p := r.recv()
	if binary.BigEndian.Uint16(p) != 5 || binary.BigEndian.Uint16(p[2:]) != 1 || !bytes.Contains(p, []byte("not found")) || p[len(p)-1] != 0 {
		t.Errorf("ERROR packet %q", p)
	}
	if r.server.Port == port {
		t.Error("the ERROR came from port 69, not from a transfer port")
	}
	// No second ERROR follows (the library's own code-1 packet).
	_ = r.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := r.conn.ReadFromUDP(make([]byte, 600)); err == nil {
		t.Errorf("a second packet followed: %q", make([]byte, n))
	}
}

// TestPartialUploadLeavesNothing stops a client in the middle: the server
// times out and no file (partial or temporary) remains.
func TestPartialUploadLeavesNothing(t *testing.T) {
	// The client answers within 2 s (timeout and one retry), ten times what
	// a loaded machine needs; then it leaves and the server gives up after
	// those same 2 s.
	e := start(t, func(c *config.TFTP) {
		c.Timeout = config.Duration(time.Second)
		c.Retries = 1
	})
	r := newRaw(t, e.addr)
	r.send(request(2, "upload/half.bin", "octet"))
	if p := r.recv(); !bytes.Equal(p, ack(0)) {
		t.Fatalf("answer to WRQ: %x", p)
	}
	r.send(append([]byte{0, 3, 0, 1}, make([]byte, 512)...))
	p := r.recv()
	if bytes.Equal(p, ack(0)) { // a retransmission crossed DATA 1
		p = r.recv()
	}
	if !bytes.Equal(p, ack(1)) {
		t.Fatalf("answer to DATA 1: %x", p)
	}
	// Client gone. The session must end as a failure, with nothing on disk.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var open bool
		for _, s := range e.deps.Sessions.List() {
			if s.Proto == "tftp" && s.Open {
				open = true
			}
		}
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("transfer still open 30 s after the client left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitNoFiles(t, filepath.Join(e.root, "upload"))
}

func TestSessionRegistry(t *testing.T) {
	e := start(t, nil)
	data := randomFile(t, filepath.Join(e.root, "s.bin"), 5000)
	if _, _, err := e.get(t, "s.bin", "octet", 1428, true); err != nil {
		t.Fatal(err)
	}
	if err := e.put(t, "upload/s.bin", "octet", 1024, data); err != nil {
		t.Fatal(err)
	}
	_, _, _ = e.get(t, "absent", "octet", 0, false)
	var got []sessions.Info
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		got = got[:0]
		for _, s := range e.deps.Sessions.List() {
			if s.Proto == "tftp" && !s.Open {
				got = append(got, s)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 3 {
		t.Fatalf("%d closed tftp sessions, want 3: %+v", len(got), got)
	}
	rd, wr, miss := got[0], got[1], got[2]
	check := func(s sessions.Info, key, want string) {
		t.Helper()
		if s.Attrs[key] != want {
			t.Errorf("session %d %s=%q, want %q (attrs %v)", s.ID, key, s.Attrs[key], want, s.Attrs)
		}
	}
	check(rd, "file", "s.bin")
	check(rd, "direction", "read")
	check(rd, "mode", "octet")
	check(rd, "options", "blksize=1428 tsize=5000")
	check(rd, "bytes", "5000")
	check(rd, "blocks", "4")
	if rd.BytesOut != 5000 || rd.Result != "ok" || rd.Transport != "udp" || !strings.HasPrefix(rd.Remote, "127.0.0.1:") || !strings.HasPrefix(rd.Local, "127.0.0.1:") {
		t.Errorf("read session %+v", rd)
	}
	check(wr, "file", "upload/s.bin")
	check(wr, "direction", "write")
	check(wr, "options", "blksize=1024")
	check(wr, "bytes", "5000")
	check(wr, "blocks", "5")
	if wr.BytesIn != 5000 || wr.Result != "ok" {
		t.Errorf("write session %+v", wr)
	}
	check(miss, "options", "none")
	if !strings.HasPrefix(miss.Result, "error 1:") {
		t.Errorf("missing file result %q", miss.Result)
	}
}

func TestShutdownWithoutServe(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.Deps(t, cfg)
	svc, err := tftpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := svc.Bind()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The port is free again.
	pc, err := net.ListenPacket("udp", eps[0].Addr)
	if err != nil {
		t.Fatalf("port still held after Shutdown: %v", err)
	}
	pc.Close()
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"tftp:\n  upload_dir: ../x\n", "tftp.upload_dir"},
		{"tftp:\n  timeout: 300s\n", "tftp.timeout"},
		{"tftp:\n  max_blksize: 100\n", "tftp.max_blksize"},
	} {
		_, err := config.Parse("t.yaml", []byte("server:\n  data_dir: "+t.TempDir()+"\n"+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one about %s", tc.yaml, err, tc.want)
		}
	}
	c, err := config.Parse("t.yaml", []byte("server:\n  data_dir: "+t.TempDir()+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TFTP.AllowWrite {
		t.Error("a config file enables TFTP writes without asking")
	}
	if !config.Lab().TFTP.AllowWrite {
		t.Error("the lab profile should accept TFTP writes into upload/")
	}
}

// TestBadRequestsDoNotHurt sends requests that are wrong in every way;
// the server answers or ignores them and goes on serving.
func TestBadRequestsDoNotHurt(t *testing.T) {
	e := start(t, func(c *config.TFTP) {
		// The raw client never ACKs: let those transfers end quickly.
		c.Timeout = config.Duration(time.Second)
		c.Retries = 1
	})
	randomFile(t, filepath.Join(e.root, "f"), 3000)
	pad := strings.Repeat("0", 470)
	for _, p := range [][]byte{
		{},
		{0},
		{0, 1},
		{0, 1, 0},
		{0, 3, 0, 1, 'x'},   // DATA to port 69
		{0, 4, 0, 1},        // ACK to port 69
		{0, 9, 'a', 0},      // unknown opcode
		request(1, "f", ""), // empty mode
		request(1, "", "octet"),
		request(1, "f", "octet", "blksize"), // option without value
		request(1, "f", "octet", "blksize", "abc"),  // bad value
		request(1, "f", "octet", "blksize", "7"),    // too small
		request(1, "f", "octet", "blksize", "1e99"), // nonsense
		// An OACK longer than the request: tsize grows from "0" to "3000".
		request(1, "f", "octet", "tsize", "0", "blksize", pad+"512"),
	} {
		r := newRaw(t, e.addr)
		r.send(p)
		// Whatever came back (or not), drain it briefly.
		_ = r.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _, _ = r.conn.ReadFromUDP(make([]byte, 2000))
	}
	got, _, err := e.get(t, "f", "octet", 1428, true)
	if err != nil || len(got) != 3000 {
		t.Fatalf("server broken after bad requests: %d bytes, %v", len(got), err)
	}
}

// TestShutdownAbortsStalledTransfer: a transfer whose client stalls is
// ended when the shutdown grace period runs out, with an ERROR to the
// client, and nothing is left on disk.
func TestShutdownAbortsStalledTransfer(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.TFTP.AllowWrite = true
	cfg.TFTP.Timeout = config.Duration(3 * time.Second)
	d := labtest.Deps(t, cfg)
	svc, err := tftpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := svc.Bind()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx) }()
	r := newRaw(t, eps[0].Addr)
	r.send(request(2, "upload/stalled", "octet"))
	if p := r.recv(); !bytes.Equal(p, ack(0)) {
		t.Fatalf("answer to WRQ: %x", p)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer scancel()
	_ = svc.Shutdown(sctx)
	// The client gets an ERROR (possibly after a retransmitted ACK 0).
	for {
		p := r.recv()
		if binary.BigEndian.Uint16(p) == 5 {
			if !bytes.Contains(p, []byte("shutting down")) {
				t.Errorf("ERROR %q", p)
			}
			break
		}
	}
	waitNoFiles(t, filepath.Join(d.Layout.Pub(), "upload"))
	// Port 69 no longer answers.
	r2 := newRaw(t, eps[0].Addr)
	r2.send(request(1, "README.txt", "octet"))
	_ = r2.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := r2.conn.ReadFromUDP(make([]byte, 600)); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}

// TestDaemon runs the whole daemon (the path of labd serve) and fetches
// pub/README.txt over TFTP: the service is wired into services.All.
func TestDaemon(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	e := env{addr: d.Addr(t, "tftp", "udp"), root: d.Deps.Layout.Pub(), deps: d.Deps}
	got, _, err := e.get(t, "README.txt", "octet", 0, true)
	if err != nil || !strings.Contains(string(got), "public directory") {
		t.Fatalf("README.txt over TFTP: %q, %v", got, err)
	}
	// The lab profile takes uploads into upload/.
	if err := e.put(t, "upload/hello.txt", "octet", 0, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.root, "upload", "hello.txt")); string(b) != "hello\n" {
		t.Errorf("uploaded %q", b)
	}
}

// TestFirstRequestGetsBlksize: a request sent right after the service
// started (before the library's Serve enabled packet info) still gets the
// blksize it asked for, and an answer from the address it was sent to.
func TestFirstRequestGetsBlksize(t *testing.T) {
	for i := range 5 {
		e := start(t, nil)
		_, oack, code := rawGet(t, e.addr, "README.txt", "octet", "blksize", "1428")
		if code != 0 || oack != "blksize 1428 " {
			t.Fatalf("server %d: OACK %q (error %d), want blksize 1428", i, oack, code)
		}
	}
}

// rrq sends a read request with options and returns the client socket and
// the first reply.
func rrq(t *testing.T, addr, file string, opts ...string) (*net.UDPConn, *net.UDPAddr, []byte) {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pkt := append([]byte{0, 1}, file+"\x00octet\x00"...)
	for _, o := range opts {
		pkt = append(append(pkt, o...), 0)
	}
	c.WriteToUDP(pkt, ua)
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	return c, from, buf[:n]
}

// RFC 2348: blksize 8..65464; outside, clamped down or not acknowledged.
func TestBlksizeRange(t *testing.T) {
	e := start(t, nil)
	data := randomFile(t, filepath.Join(e.root, "small.bin"), 1000)
	// blksize 8 works: OACK, then 8-byte blocks.
	c, tid, oack := rrq(t, e.addr, "small.bin", "blksize", "8", "tsize", "0")
	if string(oack) != "\x00\x06blksize\x008\x00tsize\x001000\x00" {
		t.Fatalf("OACK for blksize 8: %q", oack)
	}
	var got []byte
	buf := make([]byte, 100)
	for block := uint16(0); ; {
		c.WriteToUDP([]byte{0, 4, byte(block >> 8), byte(block)}, tid)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("block %d: %v", block+1, err)
		}
		if buf[1] != 3 || n > 12 {
			t.Fatalf("block %d: %q", block+1, buf[:n])
		}
		block++
		got = append(got, buf[4:n]...)
		if n < 12 {
			c.WriteToUDP([]byte{0, 4, byte(block >> 8), byte(block)}, tid)
			break
		}
	}
	if string(got) != string(data) {
		t.Fatalf("blksize 8: got %d bytes, want %d", len(got), len(data))
	}
	// Too large: clamped (to the configured maximum at most).
	_, _, oack = rrq(t, e.addr, "small.bin", "blksize", "70000")
	if !strings.HasPrefix(string(oack), "\x00\x06blksize\x00") {
		t.Errorf("OACK for blksize 70000: %q", oack)
	}
	// Too small: not acknowledged (only tsize is).
	_, _, oack = rrq(t, e.addr, "small.bin", "blksize", "4", "tsize", "0")
	if string(oack) != "\x00\x06tsize\x001000\x00" {
		t.Errorf("OACK for blksize 4: %q", oack)
	}
}

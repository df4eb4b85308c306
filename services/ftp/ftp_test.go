package ftp_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	labftp "labd/services/ftp"
	httpsvc "labd/services/http"
)

type env struct {
	addr string
	deps service.Deps
	svc  *labftp.Service
}

// start runs the FTP service on 127.0.0.1 with passive ports chosen by the
// kernel; edit changes the config first.
func start(t *testing.T, edit func(*config.Config)) *env {
	t.Helper()
	cfg := labtest.Config(t)
	if edit != nil {
		edit(cfg)
	}
	return startWith(t, labtest.Deps(t, cfg))
}

func startWith(t *testing.T, deps service.Deps) *env {
	t.Helper()
	svc, err := labftp.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	svc.AuthFailDelay = 10 * time.Millisecond
	eps := labtest.Start(t, svc)
	return &env{addr: labtest.Addr(t, eps, "ftp", "tcp"), deps: deps, svc: svc}
}

func (e *env) dial(t *testing.T, user, pass string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(10 * time.Second)}, opts...)
	c, err := ftp.Dial(e.addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func (e *env) home(user string, parts ...string) string {
	return filepath.Join(append([]string{e.deps.Layout.Home(user)}, parts...)...)
}

func retr(t *testing.T, c *ftp.ServerConn, name string) []byte {
	t.Helper()
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func retrFrom(t *testing.T, c *ftp.ServerConn, name string, off uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, off)
	if err != nil {
		t.Fatalf("REST %d + RETR %s: %v", off, name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// ftpCode extracts the 3-digit reply code from a jlaffaye error.
func ftpCode(err error) int {
	if err == nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.SplitN(err.Error(), " ", 2)[0])
	return n
}

func TestFilesEPSVAndPASV(t *testing.T) {
	e := start(t, nil)
	for _, mode := range []struct {
		name string
		opts []ftp.DialOption
	}{
		{"EPSV", nil},
		{"PASV", []ftp.DialOption{ftp.DialWithDisabledEPSV(true)}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			c := e.dial(t, "alice", "alice", mode.opts...)
			dir := "d" + mode.name
			if err := c.MakeDir(dir); err != nil {
				t.Fatalf("MKD: %v", err)
			}
			if err := c.ChangeDir(dir); err != nil {
				t.Fatalf("CWD: %v", err)
			}
			if pwd, err := c.CurrentDir(); err != nil || pwd != "/"+dir {
				t.Fatalf("PWD = %q, %v", pwd, err)
			}
			data := payload(300_000)
			if err := c.Stor("f.bin", bytes.NewReader(data)); err != nil {
				t.Fatalf("STOR: %v", err)
			}
			if got, _ := os.ReadFile(e.home("alice", dir, "f.bin")); !bytes.Equal(got, data) {
				t.Fatalf("stored file differs (%d bytes on disk)", len(got))
			}
			if got := retr(t, c, "f.bin"); !bytes.Equal(got, data) {
				t.Fatalf("RETR differs (%d bytes)", len(got))
			}
			if n, err := c.FileSize("f.bin"); err != nil || n != int64(len(data)) {
				t.Fatalf("SIZE = %d, %v", n, err)
			}
			mt, err := c.GetTime("f.bin")
			if err != nil || time.Since(mt) > time.Hour || time.Since(mt) < -time.Hour {
				t.Fatalf("MDTM = %v, %v", mt, err)
			}
			entries, err := c.List(".")
			if err != nil || len(entries) != 1 || entries[0].Name != "f.bin" || entries[0].Size != uint64(len(data)) {
				t.Fatalf("LIST = %+v, %v", entries, err)
			}
			names, err := c.NameList("")
			if err != nil || len(names) != 1 || names[0] != "f.bin" {
				t.Fatalf("NLST = %v, %v", names, err)
			}
			if err := c.Rename("f.bin", "g.bin"); err != nil {
				t.Fatalf("RNFR/RNTO: %v", err)
			}
			if _, err := os.Stat(e.home("alice", dir, "g.bin")); err != nil {
				t.Fatalf("renamed file: %v", err)
			}
			if err := c.Delete("f.bin"); ftpCode(err) != 550 {
				t.Fatalf("DELE of a missing file: %v, want 550", err)
			}
			if err := c.Delete("g.bin"); err != nil {
				t.Fatalf("DELE: %v", err)
			}
			if err := c.ChangeDirToParent(); err != nil {
				t.Fatalf("CDUP: %v", err)
			}
			if err := c.Delete(dir); ftpCode(err) != 550 {
				t.Fatalf("DELE of a directory: %v, want 550", err)
			}
			if err := c.RemoveDir(dir); err != nil {
				t.Fatalf("RMD: %v", err)
			}
			if _, err := os.Stat(e.home("alice", dir)); !os.IsNotExist(err) {
				t.Fatalf("directory still there: %v", err)
			}
			if err := c.NoOp(); err != nil {
				t.Fatalf("NOOP: %v", err)
			}
		})
	}
}

func TestResume(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t, "alice", "alice")
	data := payload(100_000)
	if err := os.WriteFile(e.home("alice", "r.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Download resumed at an offset (REST + RETR).
	if got := retrFrom(t, c, "r.bin", 40_000); !bytes.Equal(got, data[40_000:]) {
		t.Fatalf("REST 40000 + RETR: got %d bytes, want the last %d", len(got), len(data)-40_000)
	}
	// Upload resumed at an offset (REST + STOR) keeps the first part.
	if err := c.Stor("u.bin", bytes.NewReader(data[:30_000])); err != nil {
		t.Fatal(err)
	}
	if err := c.StorFrom("u.bin", bytes.NewReader(data[30_000:]), 30_000); err != nil {
		t.Fatalf("REST + STOR: %v", err)
	}
	if got, _ := os.ReadFile(e.home("alice", "u.bin")); !bytes.Equal(got, data) {
		t.Fatalf("resumed upload differs: %d bytes", len(got))
	}
	// APPE appends.
	if err := c.Stor("a.txt", strings.NewReader("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("a.txt", strings.NewReader("two\n")); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	if got, _ := os.ReadFile(e.home("alice", "a.txt")); string(got) != "one\ntwo\n" {
		t.Fatalf("after APPE: %q", got)
	}
}

func TestASCIIAndBinary(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t, "alice", "alice")
	text := "first line\nsecond line\n\nlast\n"
	if err := os.WriteFile(e.home("alice", "t.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Type(ftp.TransferTypeASCII); err != nil {
		t.Fatal(err)
	}
	if got := string(retr(t, c, "t.txt")); got != strings.ReplaceAll(text, "\n", "\r\n") {
		t.Fatalf("TYPE A RETR = %q, want CRLF line endings", got)
	}
	if err := c.Stor("up.txt", strings.NewReader("a\r\nb\r\nc\r\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(e.home("alice", "up.txt")); string(got) != "a\nb\nc\n" {
		t.Fatalf("TYPE A STOR stored %q, want LF line endings", got)
	}
	if err := c.Type(ftp.TransferTypeBinary); err != nil {
		t.Fatal(err)
	}
	if got := string(retr(t, c, "t.txt")); got != text {
		t.Fatalf("TYPE I RETR = %q, want the bytes on disk", got)
	}
	crlf := "x\r\ny\r\n"
	if err := c.Stor("bin.txt", strings.NewReader(crlf)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(e.home("alice", "bin.txt")); string(got) != crlf {
		t.Fatalf("TYPE I STOR stored %q", got)
	}
}

func TestFTPS(t *testing.T) {
	e := start(t, func(c *config.Config) { c.FTP.RequireTLS = true })
	tc := &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "127.0.0.1"}
	c := e.dial(t, "alice", "alice", ftp.DialWithExplicitTLS(tc))
	data := payload(50_000)
	if err := c.Stor("s.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR over FTPS: %v", err)
	}
	if got := retr(t, c, "s.bin"); !bytes.Equal(got, data) {
		t.Fatal("RETR over FTPS differs")
	}
	var ctrl, dataTLS bool
	for _, s := range e.deps.Sessions.List() {
		if s.Proto == "ftp" && s.User == "alice" && s.TLS {
			ctrl = true
		}
		if s.Proto == "ftp-data" && s.TLS && s.User == "alice" {
			dataTLS = true
		}
	}
	if !ctrl || !dataTLS {
		t.Fatalf("registry: TLS control session %v, TLS data session %v: %+v", ctrl, dataTLS, e.deps.Sessions.List())
	}

	// require_tls: USER in clear is refused, and the session goes on;
	// after AUTH TLS, data connections need PROT P.
	conn := labtest.Dial(t, e.addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220")
	send(t, conn, r, "USER alice", "530")
	send(t, conn, r, "AUTH GSSAPI", "504")
	tconn, tr := loginAuthTLS(t, e)
	send(t, tconn, tr, "AUTH TLS", "503")
	send(t, tconn, tr, "LIST", "521")
	send(t, tconn, tr, "PROT C", "534")
	send(t, tconn, tr, "PBSZ 0", "200")
	send(t, tconn, tr, "PROT P", "200")
	dc, _ := epsv(t, tconn, tr)
	send(t, tconn, tr, "LIST", "150")
	tdc := tls.Client(dc, &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "127.0.0.1"})
	io.ReadAll(tdc)
	expect(t, tr, "226")
}

func TestAnonymousReadOnly(t *testing.T) {
	e := start(t, nil)
	if err := os.WriteFile(filepath.Join(e.deps.Layout.Pub(), "hello.txt"), []byte("hi all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, "anonymous", "student@lab.test")
	if got := string(retr(t, c, "hello.txt")); got != "hi all\n" {
		t.Fatalf("anonymous RETR = %q", got)
	}
	if err := c.Stor("up.txt", strings.NewReader("x")); ftpCode(err) != 550 {
		t.Fatalf("anonymous STOR: %v, want 550", err)
	}
	if err := c.MakeDir("d"); ftpCode(err) != 550 {
		t.Fatalf("anonymous MKD: %v, want 550", err)
	}
	if err := c.Delete("hello.txt"); ftpCode(err) != 550 {
		t.Fatalf("anonymous DELE: %v, want 550", err)
	}
	if err := c.Rename("hello.txt", "x.txt"); ftpCode(err) != 550 {
		t.Fatalf("anonymous RNTO: %v, want 550", err)
	}
	if _, err := os.Stat(filepath.Join(e.deps.Layout.Pub(), "up.txt")); !os.IsNotExist(err) {
		t.Fatal("anonymous upload reached pub/")
	}

	// Switched off, anonymous is an unknown user.
	off := start(t, func(c *config.Config) { c.FTP.Anonymous = false })
	cc, err := ftp.Dial(off.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Quit()
	if err := cc.Login("anonymous", "x"); ftpCode(err) != 530 || !strings.Contains(err.Error(), "Anonymous access is disabled on this server") {
		t.Fatalf("anonymous disabled: %v, want 530 Anonymous access is disabled on this server", err)
	}
}

func TestNoEscape(t *testing.T) {
	e := start(t, nil)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, e.home("alice", "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), e.home("alice", "outdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.home("bob", "bob.txt"), []byte("bob's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.home("alice", "hand.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn := labtest.Dial(t, e.addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220")
	send(t, conn, r, "USER alice", "331")
	send(t, conn, r, "PASS alice", "230")
	send(t, conn, r, "CWD ../../..", "250")
	send(t, conn, r, "PWD", `257 "/"`)
	replies := []string{
		send(t, conn, r, "SIZE ../../labd.db", "550"),
		send(t, conn, r, "SIZE ../bob/bob.txt", "550"),
		send(t, conn, r, "SIZE /link.txt", "550"),
		send(t, conn, r, "CWD outdir", "550"),
		send(t, conn, r, "MDTM outdir/secret.txt", "550"),
		send(t, conn, r, "RNFR hand.txt", "350"),
		send(t, conn, r, "RNTO ../../../escaped.txt", "250"), // lands in the home
	}
	if _, err := os.Lstat(e.home("alice", "escaped.txt")); err != nil {
		t.Fatalf("RNTO ../../../x should stay in the home: %v", err)
	}
	for _, rep := range replies {
		if strings.Contains(rep, e.deps.Config.Server.DataDir) || strings.Contains(rep, filepath.Dir(secret)) {
			t.Errorf("reply reveals a real path: %q", rep)
		}
	}
	c := e.dial(t, "alice", "alice")
	for _, name := range []string{"../../labd.db", "link.txt", "outdir/secret.txt", "/../bob/bob.txt"} {
		if r, err := c.Retr(name); err == nil {
			b, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("RETR %s succeeded: %q", name, b)
		} else if strings.Contains(err.Error(), e.deps.Config.Server.DataDir) {
			t.Errorf("RETR %s error reveals the data dir: %v", name, err)
		}
	}
	if err := c.Stor("outdir/new.txt", strings.NewReader("x")); err == nil {
		t.Error("STOR through a symlink to outside succeeded")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(secret), "new.txt")); err == nil {
		t.Error("a file was written outside the home")
	}
}

// expect reads one reply (multi-line aware) and checks its start.
func expect(t *testing.T, r *bufio.Reader, prefix string) string {
	t.Helper()
	var all strings.Builder
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read reply: %v (so far %q)", err, line)
	}
	all.WriteString(line)
	if len(line) >= 4 && line[3] == '-' {
		end := line[:3] + " "
		for !strings.HasPrefix(line, end) {
			if line, err = r.ReadString('\n'); err != nil {
				t.Fatalf("read multi-line reply: %v", err)
			}
			all.WriteString(line)
		}
	}
	if !strings.HasPrefix(all.String(), prefix) {
		t.Fatalf("reply %q, want %q", all.String(), prefix)
	}
	if !strings.HasSuffix(line, "\r\n") {
		t.Fatalf("reply line %q does not end in CRLF", line)
	}
	return all.String()
}

func send(t *testing.T, c net.Conn, r *bufio.Reader, cmd, want string) string {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
		t.Fatal(err)
	}
	return expect(t, r, want)
}

func TestHandTyped(t *testing.T) {
	e := start(t, nil)
	if err := os.WriteFile(e.home("alice", "hand.txt"), []byte("typed by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn := labtest.Dial(t, e.addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220 ")
	send(t, conn, r, "HELP", "214-")
	send(t, conn, r, "PWD", "530")
	send(t, conn, r, "user alice", "331")
	send(t, conn, r, "PASS alice", "230")
	send(t, conn, r, "SYST", "215 UNIX")
	feat := send(t, conn, r, "FEAT", "211-")
	for _, f := range []string{"EPSV", "EPRT", "SIZE", "MDTM", "REST STREAM", "MLST", "MLSD", "AUTH TLS", "PBSZ", "PROT", "UTF8"} {
		if !strings.Contains(feat, " "+f+"\r\n") && !strings.Contains(feat, " "+f+" ") {
			t.Errorf("FEAT lacks %s: %q", f, feat)
		}
	}
	send(t, conn, r, "HELP RETR", "214 ")
	send(t, conn, r, "PWD", `257 "/"`)
	send(t, conn, r, "SIZE hand.txt", "213 14")
	send(t, conn, r, "TYPE A", "200")
	send(t, conn, r, "TYPE I", "200")
	send(t, conn, r, "MDTM hand.txt", "213 2")
	send(t, conn, r, "MLST hand.txt", "250-")
	if rep := send(t, conn, r, "MKD sub", "257 "); !strings.Contains(rep, `"/sub"`) {
		t.Fatalf("MKD reply %q lacks the quoted path", rep)
	}
	send(t, conn, r, "CWD sub", "250")
	send(t, conn, r, "CDUP", "250")
	send(t, conn, r, "RMD sub", "250")
	send(t, conn, r, "NOOP", "200")
	send(t, conn, r, "BOGUS", "500")
	send(t, conn, r, "RNTO x", "503")
	send(t, conn, r, "TYPE X", "504")
	// Pipelined: replies come in order, HELP included.
	fmt.Fprintf(conn, "NOOP\r\nHELP\r\nPWD\r\n")
	expect(t, r, "200")
	expect(t, r, "214")
	expect(t, r, "257")
	// A command in pieces, as telnet in character mode sends it.
	for _, piece := range []string{"h", "el", "p\r", "\nNO", "OP\r\n"} {
		fmt.Fprint(conn, piece)
		time.Sleep(20 * time.Millisecond)
	}
	expect(t, r, "214-")
	expect(t, r, "200")
	// Bare LF as nc sends without -C.
	fmt.Fprintf(conn, "NOOP\n")
	expect(t, r, "200")

	// Active mode by hand: PORT and EPRT with our own data listener.
	for _, active := range []string{"PORT", "EPRT"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if active == "PORT" {
			send(t, conn, r, fmt.Sprintf("PORT 127,0,0,1,%d,%d", port/256, port%256), "200")
		} else {
			send(t, conn, r, fmt.Sprintf("EPRT |1|127.0.0.1|%d|", port), "200")
		}
		got := make(chan []byte, 1)
		go func() {
			dc, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer dc.Close()
			b, _ := io.ReadAll(dc)
			got <- b
		}()
		send(t, conn, r, "RETR hand.txt", "150")
		expect(t, r, "226")
		if b := <-got; string(b) != "typed by hand\n" {
			t.Fatalf("%s RETR got %q", active, b)
		}
		ln.Close()
	}
	// Active STOR.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	send(t, conn, r, fmt.Sprintf("PORT 127,0,0,1,%d,%d", port/256, port%256), "200")
	go func() {
		dc, err := ln.Accept()
		if err != nil {
			return
		}
		dc.Write([]byte("sent actively\n"))
		dc.Close()
	}()
	send(t, conn, r, "STOR active.txt", "150")
	expect(t, r, "226")
	if b, _ := os.ReadFile(e.home("alice", "active.txt")); string(b) != "sent actively\n" {
		t.Fatalf("active STOR stored %q", b)
	}
	// PORT to another address than the client's is refused (no FTP bounce).
	send(t, conn, r, "PORT 10,0,0,1,4,1", "501")
	send(t, conn, r, "QUIT", "221")
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("after QUIT: %v, want EOF", err)
	}

	// Session registry: user and transcript.
	var found bool
	for _, s := range e.deps.Sessions.List() {
		if s.Proto == "ftp" && s.User == "alice" {
			found = true
		}
	}
	if !found {
		t.Fatal("no ftp session of alice in the registry")
	}
}

func TestWrongPassword(t *testing.T) {
	e := start(t, nil)
	conn := labtest.Dial(t, e.addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220")
	send(t, conn, r, "USER alice", "331")
	send(t, conn, r, "PASS wrong", "530")
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after a failed login")
	}
	c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("service gone after a failed login: %v", err)
	}
	defer c.Quit()
	if err := c.Login("nobody", "x"); ftpCode(err) != 530 {
		t.Fatalf("unknown user: %v, want 530", err)
	}
}

func TestLimits(t *testing.T) {
	t.Run("max_file_bytes", func(t *testing.T) {
		e := start(t, func(c *config.Config) { c.FTP.MaxFileBytes = 10_000 })
		c := e.dial(t, "alice", "alice")
		if err := c.Stor("ok.bin", bytes.NewReader(payload(10_000))); err != nil {
			t.Fatalf("STOR at the limit: %v", err)
		}
		if err := c.Stor("big.bin", bytes.NewReader(payload(200_000))); ftpCode(err) != 552 {
			t.Fatalf("STOR over max_file_bytes: %v, want 552", err)
		}
		if _, err := os.Stat(e.home("alice", "big.bin")); !os.IsNotExist(err) {
			t.Fatalf("a refused upload left a file behind: %v", err)
		}
		if err := c.Append("ok.bin", bytes.NewReader([]byte("x"))); ftpCode(err) != 552 {
			t.Fatalf("APPE past max_file_bytes: %v, want 552", err)
		}
		if fi, err := os.Stat(e.home("alice", "ok.bin")); err != nil || fi.Size() != 10_000 {
			t.Fatalf("after a refused APPE the file should keep its size: %v %v", fi, err)
		}
		if err := c.NoOp(); err != nil {
			t.Fatalf("session unusable after 552: %v", err)
		}
	})
	t.Run("quota_bytes", func(t *testing.T) {
		e := start(t, func(c *config.Config) { c.FTP.QuotaBytes = 50_000 })
		c := e.dial(t, "alice", "alice")
		if err := c.Stor("a.bin", bytes.NewReader(payload(30_000))); err != nil {
			t.Fatalf("STOR under quota: %v", err)
		}
		if err := c.Stor("b.bin", bytes.NewReader(payload(30_000))); ftpCode(err) != 552 {
			t.Fatalf("STOR over quota: %v, want 552", err)
		}
		// Replacing a file counts its old size as free.
		if err := c.Stor("a.bin", bytes.NewReader(payload(40_000))); err != nil {
			t.Fatalf("overwrite within quota: %v", err)
		}
	})
	t.Run("max_conns_per_ip", func(t *testing.T) {
		e := start(t, func(c *config.Config) { c.FTP.MaxConnsPerIP = 2 })
		for range 2 {
			c := labtest.Dial(t, e.addr)
			expect(t, bufio.NewReader(c), "220")
		}
		c := labtest.Dial(t, e.addr)
		expect(t, bufio.NewReader(c), "421 Too many connections")
	})
}

func TestIdleTimeout(t *testing.T) {
	e := start(t, func(c *config.Config) { c.FTP.IdleTimeout = config.Duration(time.Second) })
	// An idle control connection is closed with 421 (within generous bounds).
	conn := labtest.Dial(t, e.addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220")
	send(t, conn, r, "USER alice", "331")
	send(t, conn, r, "PASS alice", "230")
	expect(t, r, "421")

	// A transfer longer than the idle timeout is not cut.
	c := e.dial(t, "alice", "alice")
	pr, pw := io.Pipe()
	// Three times the idle timeout in all, in pauses of a quarter of it
	// (the sleeps are the scenario, not a synchronisation).
	go func() {
		for i := range 12 {
			pw.Write(bytes.Repeat([]byte{byte('a' + i)}, 500))
			time.Sleep(250 * time.Millisecond)
		}
		pw.Close()
	}()
	if err := c.Stor("slow.bin", pr); err != nil {
		t.Fatalf("slow STOR: %v", err)
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("control connection closed during a long transfer: %v", err)
	}
	if fi, err := os.Stat(e.home("alice", "slow.bin")); err != nil || fi.Size() != 6000 {
		t.Fatalf("slow upload: %v %v", fi, err)
	}
}

// TestSharedWithHTTP shows the shared home: a file put over FTP into
// public_html is served over HTTP as /~alice/.
func TestSharedWithHTTP(t *testing.T) {
	e := start(t, nil)
	hs, err := httpsvc.New(e.deps)
	if err != nil {
		t.Fatal(err)
	}
	haddr := labtest.Addr(t, labtest.Start(t, hs), "http", "tcp")
	c := e.dial(t, "alice", "alice")
	page := "<p>uploaded by FTP</p>\n"
	if err := c.Stor("public_html/ftp.html", strings.NewReader(page)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + haddr + "/~alice/ftp.html")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != page {
		t.Fatalf("GET /~alice/ftp.html = %d %q", resp.StatusCode, b)
	}
}

func TestDataSessions(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t, "bob", "bob")
	if err := c.Stor("x.bin", bytes.NewReader(payload(5000))); err != nil {
		t.Fatal(err)
	}
	retr(t, c, "x.bin")
	var data int
	var noted bool
	for _, s := range e.deps.Sessions.List() {
		if s.Proto == "ftp-data" && s.User == "bob" && (s.BytesIn == 5000 || s.BytesOut == 5000) {
			data++
		}
		if s.Proto == "ftp" && s.User == "bob" {
			if sess, ok := e.deps.Sessions.Get(s.ID); ok {
				for _, en := range sess.Transcript() {
					if strings.Contains(string(en.Data), "upload /x.bin: 5000 bytes") {
						noted = true
					}
				}
			}
		}
	}
	if data != 2 || !noted {
		t.Fatalf("data sessions with 5000 bytes: %d (want 2), transfer noted: %v", data, noted)
	}
}

// epsv sends EPSV and dials the announced port on 127.0.0.1.
func epsv(t *testing.T, conn net.Conn, r *bufio.Reader) (net.Conn, int) {
	t.Helper()
	rep := send(t, conn, r, "EPSV", "229")
	i := strings.Index(rep, "(|||")
	j := strings.Index(rep, "|)")
	if i < 0 || j < i {
		t.Fatalf("EPSV reply %q", rep)
	}
	port, _ := strconv.Atoi(rep[i+4 : j])
	dc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatalf("data connection to %d: %v", port, err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc, port
}

func login(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn := labtest.Dial(t, addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220")
	return loginOn(t, conn, r)
}

// loginAuthTLS logs in as alice after AUTH TLS (RFC 4217).
func loginAuthTLS(t *testing.T, e *env) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn := labtest.Dial(t, e.addr)
	r := bufio.NewReader(conn)
	expect(t, r, "220")
	send(t, conn, r, "AUTH TLS", "234")
	tc := tls.Client(conn, &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("AUTH TLS handshake: %v", err)
	}
	return loginOn(t, tc, bufio.NewReader(tc))
}

func loginOn(t *testing.T, conn net.Conn, r *bufio.Reader) (net.Conn, *bufio.Reader) {
	t.Helper()
	send(t, conn, r, "USER alice", "331")
	send(t, conn, r, "PASS alice", "230")
	return conn, r
}

func TestAbort(t *testing.T) {
	e := start(t, nil)
	if err := os.WriteFile(e.home("alice", "huge.bin"), payload(32<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, r := login(t, e.addr)
	dc, _ := epsv(t, conn, r)
	send(t, conn, r, "RETR huge.bin", "150")
	if _, err := io.ReadFull(dc, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	// Telnet IP + Synch before ABOR, as RFC 959 clients send it.
	fmt.Fprintf(conn, "\xff\xf4\xff\xf2ABOR\r\n")
	expect(t, r, "426")
	expect(t, r, "226")
	send(t, conn, r, "NOOP", "200")
	send(t, conn, r, "ABOR", "226") // nothing to abort
	// The session still transfers afterwards.
	dc2, _ := epsv(t, conn, r)
	send(t, conn, r, "REST 33554000", "350")
	send(t, conn, r, "RETR huge.bin", "150")
	b, _ := io.ReadAll(dc2)
	expect(t, r, "226")
	if !bytes.Equal(b, payload(32 << 20)[33554000:]) {
		t.Fatalf("REST+RETR after ABOR: %d bytes", len(b))
	}
}

func TestPassiveAddressAndPorts(t *testing.T) {
	// A random high range, so that parallel test runs rarely meet; the
	// library tries other ports of the range when one is taken.
	first := 40000 + int(time.Now().UnixNano()%20000)
	e := start(t, func(c *config.Config) {
		c.FTP.PassivePorts = fmt.Sprintf("%d-%d", first, first+49)
		c.FTP.PublicHost = "192.0.2.10"
	})
	conn, r := login(t, e.addr)
	for range 3 {
		_, port := epsv(t, conn, r)
		if port < first || port > first+49 {
			t.Fatalf("EPSV port %d outside %d-%d", port, first, first+49)
		}
		send(t, conn, r, "LIST", "150")
		expect(t, r, "226")
	}
	// PASV announces ftp.public_host (not dialled: it is a documentation
	// address), with the port in p1,p2.
	rep := send(t, conn, r, "PASV", "227 Entering Passive Mode (192,0,2,10,")
	var h1, h2, h3, h4, p1, p2 int
	if _, err := fmt.Sscanf(rep[strings.Index(rep, "(")+1:], "%d,%d,%d,%d,%d,%d)", &h1, &h2, &h3, &h4, &p1, &p2); err != nil {
		t.Fatalf("PASV reply %q: %v", rep, err)
	}
	if p := p1*256 + p2; p < first || p > first+49 {
		t.Fatalf("PASV port %d outside the range", p)
	}

	// Without ftp.public_host, server.public_address; without it, the
	// address the client reached.
	e2 := start(t, func(c *config.Config) { c.Server.PublicAddress = "198.51.100.7" })
	conn2, r2 := login(t, e2.addr)
	send(t, conn2, r2, "PASV", "227 Entering Passive Mode (198,51,100,7,")
	e3 := start(t, nil)
	conn3, r3 := login(t, e3.addr)
	send(t, conn3, r3, "PASV", "227 Entering Passive Mode (127,0,0,1,")
}

// TestDaemon runs the whole daemon (as labd serve does): FTP is
// registered, and what FTP stores HTTP serves.
func TestDaemon(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	addr := d.Addr(t, "ftp", "tcp")
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("bob", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("public_html/d.txt", strings.NewReader("via the daemon\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + d.Addr(t, "http", "tcp") + "/~bob/d.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "via the daemon\n" {
		t.Fatalf("GET /~bob/d.txt = %d %q", resp.StatusCode, b)
	}
}

// TestActiveSourcePort: active data connections come from any port by
// default, from port 20 with active_from_port_20 (root only).
func TestActiveSourcePort(t *testing.T) {
	for _, from20 := range []bool{false, true} {
		t.Run(fmt.Sprint("from20=", from20), func(t *testing.T) {
			if from20 {
				labtest.Require(t, os.Geteuid() == 0, "root to bind port 20 (CI runs as root)")
			}
			e := start(t, func(c *config.Config) { c.FTP.ActiveFromPort20 = from20 })
			conn, r := login(t, e.addr)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			send(t, conn, r, fmt.Sprintf("EPRT |1|127.0.0.1|%d|", ln.Addr().(*net.TCPAddr).Port), "200")
			src := make(chan int, 1)
			go func() {
				dc, err := ln.Accept()
				if err != nil {
					src <- -1
					return
				}
				src <- dc.RemoteAddr().(*net.TCPAddr).Port
				io.Copy(io.Discard, dc)
				dc.Close()
			}()
			send(t, conn, r, "LIST", "150")
			expect(t, r, "226")
			if p := <-src; (p == 20) != from20 {
				t.Fatalf("data connection from port %d, active_from_port_20=%v", p, from20)
			}
		})
	}
}

// RFC 959/2428/3659 points the library alone gets wrong, on a raw socket,
// in clear text and after AUTH TLS.
func TestConformance(t *testing.T) {
	for _, mode := range []string{"plaintext", "auth tls"} {
		t.Run(mode, func(t *testing.T) { testConformance(t, mode) })
	}
}

func testConformance(t *testing.T, mode string) {
	e := start(t, nil)
	if err := os.WriteFile(e.home("alice", "f.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	var r *bufio.Reader
	if mode == "auth tls" {
		conn, r = loginAuthTLS(t, e)
		send(t, conn, r, "AUTH TLS", "503")
	} else {
		conn, r = login(t, e.addr)
	}
	send(t, conn, r, "STRU F", "200")
	send(t, conn, r, "STRU R", "504")
	send(t, conn, r, "MODE S", "200")
	send(t, conn, r, "mode s", "200")
	send(t, conn, r, "MODE B", "504")
	feat := send(t, conn, r, "FEAT", "211-Extensions supported")
	if !strings.Contains(feat, " MLST type*;size*;modify*;\r\n") {
		t.Errorf("FEAT without MLST facts: %q", feat)
	}
	send(t, conn, r, "OPTS MLST type;size;", "200 MLST OPTS type;")
	if rep := send(t, conn, r, "SITE CHMOD 999 f.txt", "501"); strings.Contains(rep, "strconv") {
		t.Errorf("SITE CHMOD 999: %q", rep)
	}
	send(t, conn, r, "SITE CHMOD 644", "501")
	send(t, conn, r, "SITE CHMOD 4755 f.txt", "501") // no setuid
	send(t, conn, r, "SITE HELP", "214")
	send(t, conn, r, "SITE", "501")
	send(t, conn, r, "ALLO 10 R 5", "202")
	send(t, conn, r, "ALLO x", "501")
	send(t, conn, r, "REST abc", "501")
	send(t, conn, r, "TYPE", "501")
	send(t, conn, r, "TYPE L 8", "200")
	send(t, conn, r, "OPTS", "501")
	send(t, conn, r, "EPSV 3", "522")
	send(t, conn, r, "SITE CHMOD 600 f.txt", "200")
	if rep := send(t, conn, r, "STAT", "211-"); !strings.Contains(rep, "Connected to 127.0.0.1:") {
		t.Errorf("STAT without the server address: %q", rep)
	}
	for _, path := range []string{"f.txt", "."} {
		// 213 for a file, 212 for a directory (RFC 959).
		if rep := send(t, conn, r, "STAT "+path, "21"); !strings.Contains(rep, "\r\n -rw-------") || !strings.Contains(rep, " alice alice ") {
			t.Errorf("STAT %s: %q", path, rep)
		}
	}
	send(t, conn, r, "RNFR f.txt", "350 Requested file action pending")
	send(t, conn, r, "RNTO g.txt", "250 Requested file action okay")
	send(t, conn, r, "EPRT |1|10.9.9.9|1025|", "501") // RFC 2577: only to the client
	send(t, conn, r, "EPRT |3|127.0.0.1|1025|", "522")
	send(t, conn, r, "PORT 127,0,0,1", "501")
	if mode == "plaintext" {
		send(t, conn, r, "PROT P", "503")
	} else {
		send(t, conn, r, "PROT S", "536")
		send(t, conn, r, "PROT C", "200")
	}
	send(t, conn, r, "EPSV ALL", "200")
	send(t, conn, r, "PASV", "503")
	send(t, conn, r, "PORT 127,0,0,1,4,1", "503")
	send(t, conn, r, "EPRT |1|127.0.0.1|1025|", "503")
	dc, _ := epsv(t, conn, r)
	send(t, conn, r, "RETR g.txt", "150")
	io.ReadAll(dc)
	expect(t, r, "226")
	// ABOR as urgent data on Linux: the LF (the urgent byte) is not in
	// the stream, the next command follows the CR directly.
	fmt.Fprintf(conn, "ABOR\rNOOP\r\n")
	expect(t, r, "226")
	expect(t, r, "200")
	send(t, conn, r, "PWD", "257")
	send(t, conn, r, "HELP", "214-")
	send(t, conn, r, "NOOP", "200 Command okay.")
}

// Users see pub/ (what anonymous FTP and TFTP serve) as /pub: read-only,
// writable with ftp.pub_writable.
func TestPubInUserView(t *testing.T) {
	e := start(t, nil)
	if err := os.WriteFile(filepath.Join(e.deps.Layout.Pub(), "shared.txt"), []byte("for all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, "alice", "alice")
	names, err := c.NameList("/")
	if err != nil || !strings.Contains(strings.Join(names, " "), "pub") {
		t.Fatalf("NLST /: %v %v", names, err)
	}
	if got := string(retr(t, c, "/pub/shared.txt")); got != "for all\n" {
		t.Errorf("RETR /pub/shared.txt: %q", got)
	}
	if err := c.Stor("/pub/up.txt", strings.NewReader("x")); ftpCode(err) != 550 {
		t.Errorf("STOR into read-only /pub: %v, want 550", err)
	}
	if err := c.RemoveDir("/pub"); err == nil {
		t.Error("RMD /pub accepted")
	}

	w := start(t, func(c *config.Config) { c.FTP.PubWritable = true })
	c = w.dial(t, "alice", "alice")
	if err := c.ChangeDir("/pub"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("tp.txt", strings.NewReader("put over FTP\n")); err != nil {
		t.Fatalf("STOR /pub/tp.txt: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(w.deps.Layout.Pub(), "tp.txt")); err != nil || string(b) != "put over FTP\n" {
		t.Errorf("pub/tp.txt: %q %v", b, err)
	}
	if err := c.Rename("/pub/tp.txt", "/mine.txt"); err == nil {
		t.Error("rename across /pub accepted")
	}
}

// LIST names the user as owner and group, as SFTP and the shell do.
func TestListOwner(t *testing.T) {
	e := start(t, nil)
	if err := os.WriteFile(e.home("alice", "mine.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, r := login(t, e.addr)
	dc, _ := epsv(t, conn, r)
	send(t, conn, r, "LIST", "150")
	b, _ := io.ReadAll(dc)
	expect(t, r, "226")
	if !strings.Contains(string(b), " alice alice ") || strings.Contains(string(b), " ftp ftp ") {
		t.Errorf("LIST owner:\n%s", b)
	}
	// File data is never rewritten.
	if err := os.WriteFile(e.home("alice", "fake.txt"), []byte("-rw-r--r-- 1 ftp ftp 0 Jan 1 x\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dc, _ = epsv(t, conn, r)
	send(t, conn, r, "RETR fake.txt", "150")
	b, _ = io.ReadAll(dc)
	expect(t, r, "226")
	if string(b) != "-rw-r--r-- 1 ftp ftp 0 Jan 1 x\r\n" {
		t.Errorf("RETR content changed: %q", b)
	}
}

package ftp_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
)

// reply500 finds a 500 reply in a client's printout ("500 ..." on its own
// or after a label such as "abort: "), not the digits 500 inside a port
// number such as 127.0.0.1:50098 (STAT prints the client's port).
var reply500 = regexp.MustCompile(`(?m)(^|[\s:])500[ -]`)

// run executes an external client with a deadline and returns its output.
func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestCurl(t *testing.T) {
	curl := labtest.Tool(t, "curl")
	e := start(t, nil)
	dir := t.TempDir()
	base := "ftp://alice:alice@" + e.addr + "/"
	local := filepath.Join(dir, "local.txt")
	if err := os.WriteFile(local, []byte("from curl\nline 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.deps.Layout.Pub(), "pub.txt"), []byte("public\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		want  string // in the output
		check func(t *testing.T)
	}{
		{"list", []string{base}, "public_html", nil},
		{"upload", []string{"-T", local, base + "up.txt"}, "", func(t *testing.T) {
			if b, _ := os.ReadFile(e.home("alice", "up.txt")); string(b) != "from curl\nline 2\n" {
				t.Fatalf("uploaded %q", b)
			}
		}},
		{"download", []string{base + "up.txt"}, "from curl\nline 2\n", nil},
		{"ascii download", []string{"--use-ascii", "--trace-ascii", "-", base + "up.txt"}, "from curl", nil},
		{"active download", []string{"-P", "127.0.0.1", base + "up.txt"}, "from curl", nil},
		{"active upload", []string{"-P", "127.0.0.1", "-T", local, base + "up2.txt"}, "", func(t *testing.T) {
			if _, err := os.Stat(e.home("alice", "up2.txt")); err != nil {
				t.Fatal(err)
			}
		}},
		{"ftps list", []string{"--ssl-reqd", "--cacert", e.deps.TLS.CAFile, base}, "up.txt", nil},
		// LIST names the user as owner, as SFTP and the shell do, in both
		// modes and inside TLS.
		{"list owner", []string{base}, " alice alice ", nil},
		{"active list owner", []string{"-P", "127.0.0.1", base}, " alice alice ", nil},
		{"active PORT list owner", []string{"-P", "127.0.0.1", "--disable-eprt", base}, " alice alice ", nil},
		// No FTPS active case: curl 7.88 (Debian 12) never starts TLS on
		// an active data connection, against labd as against the library
		// alone; lftp and ftplib cover it.
		{"ftps upload", []string{"--ssl-reqd", "--cacert", e.deps.TLS.CAFile, "-T", local, base + "tls.txt"}, "", func(t *testing.T) {
			if b, _ := os.ReadFile(e.home("alice", "tls.txt")); !strings.HasPrefix(string(b), "from curl") {
				t.Fatalf("FTPS upload stored %q", b)
			}
		}},
		{"ftps download", []string{"--ssl-reqd", "--cacert", e.deps.TLS.CAFile, base + "tls.txt"}, "from curl", nil},
		{"anonymous download", []string{"ftp://" + e.addr + "/pub.txt"}, "public", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(t, dir, curl, append([]string{"-sS", "--max-time", "20"}, c.args...)...)
			if err != nil {
				t.Fatalf("curl %v: %v\n%s", c.args, err, out)
			}
			if !strings.Contains(out, c.want) {
				t.Fatalf("curl %v output lacks %q:\n%s", c.args, c.want, out)
			}
			if c.check != nil {
				c.check(t)
			}
		})
	}
	t.Run("ascii on the wire", func(t *testing.T) {
		out, err := run(t, dir, curl, "-sS", "--use-ascii", "--trace", "-", base+"up.txt")
		if err != nil {
			t.Fatal(err)
		}
		// The hex dump of the received data shows CR LF (0d 0a).
		if !strings.Contains(out, "0d 0a") {
			t.Fatalf("TYPE A download has no CRLF on the wire:\n%s", out)
		}
	})
	t.Run("anonymous upload refused", func(t *testing.T) {
		out, err := run(t, dir, curl, "-sS", "-T", local, "ftp://"+e.addr+"/nope.txt")
		if err == nil || !strings.Contains(out, "550") {
			t.Fatalf("anonymous upload: %v\n%s", err, out)
		}
	})
}

func TestLftp(t *testing.T) {
	lftp := labtest.Tool(t, "lftp")
	e := start(t, nil)
	dir := t.TempDir()
	data := payload(1 << 20)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name, settings string
	}{
		{"passive", "set ftp:passive-mode on; set ftp:ssl-allow no"},
		{"active", "set ftp:passive-mode off; set ftp:ssl-allow no"},
		{"ftps passive", "set ftp:passive-mode on; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:ca-file " + e.deps.TLS.CAFile},
		{"ftps active", "set ftp:passive-mode off; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:ca-file " + e.deps.TLS.CAFile},
	} {
		t.Run(m.name, func(t *testing.T) {
			name := strings.ReplaceAll(m.name, " ", "_")
			script := "set net:max-retries 1; set net:timeout 5; set cmd:fail-exit yes; " + m.settings +
				"; put big.bin -o " + name + ".bin; get " + name + ".bin -o got_" + name + ".bin; ls; quit"
			mode := "passive"
			if strings.Contains(m.name, "active") {
				mode = "active"
			}
			before := dataSessions(e, mode)
			out, err := run(t, dir, lftp, "-u", "alice,alice", "-e", script, e.addr)
			if err != nil {
				t.Fatalf("lftp: %v\n%s", err, out)
			}
			if b, _ := os.ReadFile(e.home("alice", name+".bin")); !bytes.Equal(b, data) {
				t.Fatalf("lftp put stored %d bytes, want %d\n%s", len(b), len(data), out)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "got_"+name+".bin")); !bytes.Equal(b, data) {
				t.Fatalf("lftp get fetched %d bytes, want %d", len(b), len(data))
			}
			if !strings.Contains(out, name+".bin") || !strings.Contains(out, " alice alice ") {
				t.Fatalf("lftp ls lacks the file or its owner alice:\n%s", out)
			}
			// Data connections are sessions of their own in both modes
			// (labd accepts passive ones and dials active ones).
			if dataSessions(e, mode) == before {
				t.Fatalf("no %s data connection in the registry", mode)
			}
		})
	}
}

// ftplibScript drives python3's ftplib (FTP, or FTP_TLS with AUTH TLS and
// PROT P) through transfers in both modes and the RFC 959/2428/3659 points
// labd's control shim fixes.
const ftplibScript = `
import ftplib, io, ssl, sys
mode, addr, ca = sys.argv[1:4]
host, port = addr.rsplit(":", 1)
DATA = b"\x00\x01python\r\n\xff" * 1000
if mode == "auth tls":
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False  # the certificate names localhost
    f = ftplib.FTP_TLS(context=ctx)
else:
    f = ftplib.FTP()
f.connect(host, int(port), timeout=10)
if mode == "auth tls":
    print("auth", f.auth())
print(f.login("alice", "alice"))
if mode == "auth tls":
    print("prot", f.prot_p())
f.storbinary("STOR py.bin", io.BytesIO(DATA))
for pasv in (True, False):
    f.set_pasv(pasv)
    how = "passive" if pasv else "active"
    lines = []
    f.retrlines("LIST", lines.append)
    print("list", how, [l for l in lines if "py.bin" in l])
    buf = io.BytesIO()
    f.retrbinary("RETR py.bin", buf.write)
    assert buf.getvalue() == DATA, how + " RETR differs"
f.set_pasv(True)
print(f.sendcmd("SIZE py.bin"))
print(f.sendcmd("STRU F"))
print(f.sendcmd("MODE S"))
print(f.sendcmd("OPTS MLST type;size;"))
try:
    f.sendcmd("SITE CHMOD 999 py.bin")
except ftplib.error_perm as e:
    print("chmod", e)
print(f.sendcmd("STAT"))
print(f.sendcmd("RNFR py.bin"))
print(f.sendcmd("RNTO py2.bin"))
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
conn.recv(4096)
print("abort:", f.abort())
conn.close()
# abort() reads only the 426 of RFC 959's 426+226 pair.
print("after abort:", f.getresp())
print(f.voidcmd("NOOP"))
print(f.sendcmd("EPSV ALL"))
try:
    f.sendcmd("PASV")
except ftplib.error_perm as e:
    print("pasv after EPSV ALL:", e)
print(f.quit())
`

// lftp's quote over a plaintext and a TLS control channel: the control
// shim's answers are the same inside TLS.
func TestLftpQuote(t *testing.T) {
	lftp := labtest.Tool(t, "lftp")
	e := start(t, nil)
	for _, m := range []struct{ name, settings string }{
		{"plaintext", "set ftp:ssl-allow no"},
		{"auth tls", "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:ca-file " + e.deps.TLS.CAFile},
	} {
		t.Run(m.name, func(t *testing.T) {
			script := "set net:max-retries 1; set net:timeout 5; " + m.settings +
				"; quote STRU F; quote MODE S; quote OPTS MLST type; quote SITE CHMOD 999 x; quote STAT; quote HELP STRU; quote EPSV ALL; quote PASV; quit"
			out, _ := run(t, t.TempDir(), lftp, "-u", "alice,alice", "-e", script, e.addr)
			for _, want := range []string{"200 Structure set to F", "200 Mode set to S", "200 MLST OPTS type;",
				"501 Syntax: SITE CHMOD", "Connected to 127.0.0.1:", "214 Syntax: STRU", "200 EPSV ALL accepted", "503 EPSV ALL"} {
				if !strings.Contains(out, want) {
					t.Errorf("lftp output lacks %q:\n%s", want, out)
				}
			}
			tlsSeen := false
			for _, s := range e.deps.Sessions.List() {
				tlsSeen = tlsSeen || (s.Proto == "ftp" && s.TLS)
			}
			if tlsSeen != (m.name == "auth tls") {
				t.Errorf("TLS control session seen: %v", tlsSeen)
			}
		})
	}
}

func TestPythonFtplib(t *testing.T) {
	py := labtest.Tool(t, "python3")
	for _, mode := range []string{"plaintext", "auth tls"} {
		t.Run(mode, func(t *testing.T) {
			e := start(t, nil)
			if err := os.WriteFile(e.home("alice", "big.bin"), payload(16<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := run(t, t.TempDir(), py, "-c", ftplibScript, mode, e.addr, e.deps.TLS.CAFile)
			if err != nil {
				t.Fatalf("python3 ftplib: %v\n%s", err, out)
			}
			wants := []string{"230 ", "list passive ['-rw", "list active ['-rw", "213 11000",
				"200 Structure set to F", "200 Mode set to S", "200 MLST OPTS type;size;",
				"chmod 501 Syntax: SITE CHMOD", "Connected to 127.0.0.1:",
				"350 Requested file action pending further information", "250 Requested file action okay",
				"abort: 426", "after abort: 226", "200 EPSV ALL accepted", "pasv after EPSV ALL: 503", "221 "}
			if mode == "auth tls" {
				wants = append(wants, "auth 234", "prot 200")
			}
			for _, want := range wants {
				if !strings.Contains(out, want) {
					t.Errorf("ftplib output lacks %q:\n%s", want, out)
				}
			}
			if strings.Count(out, " alice alice ") != 2 || strings.Contains(out, " ftp ftp ") || reply500.MatchString(out) {
				t.Errorf("LIST owner (alice, passive and active) or a 500:\n%s", out)
			}
			if b, _ := os.ReadFile(e.home("alice", "py2.bin")); len(b) != 11000 {
				t.Errorf("py2.bin has %d bytes", len(b))
			}
		})
	}
}

func dataSessions(e *env, mode string) int {
	n := 0
	for _, s := range e.deps.Sessions.List() {
		if s.Proto == "ftp-data" && s.Attrs["mode"] == mode {
			n++
		}
	}
	return n
}

// Python's ftplib abort() sends ABOR as urgent data (MSG_OOB) during a
// transfer; the session must stay in step.
func TestPythonAbort(t *testing.T) {
	py := labtest.Tool(t, "python3")
	e := start(t, nil)
	if err := os.WriteFile(e.home("alice", "big.bin"), payload(16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import ftplib, sys
host, port = sys.argv[1].rsplit(":", 1)
f = ftplib.FTP()
f.connect(host, int(port), timeout=10)
f.login("alice", "alice")
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
conn.recv(4096)
print("abort:", f.abort())
conn.close()
print(f.voidcmd("NOOP"))
print(f.sendcmd("PWD"))
print(f.quit())
`
	out, err := run(t, t.TempDir(), py, "-c", script, e.addr)
	if err != nil {
		t.Fatalf("python3 ftplib abort: %v\n%s", err, out)
	}
	// ftplib's abort() reads only the 426 of RFC 959's 426+226 pair, so
	// its later replies lag one behind: the point is that none is 500.
	for _, want := range []string{"abort: 426", "226 ", "200 ", `257 "/"`} {
		if !strings.Contains(out, want) || reply500.MatchString(out) {
			t.Fatalf("ftplib output lacks %q:\n%s", want, out)
		}
	}
}

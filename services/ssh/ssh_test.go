package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"labd/config"
	"labd/internal/fsroot"
	"labd/internal/labtest"
	"labd/internal/service"
	labssh "labd/services/ssh"
)

// Generating an RSA 3072 key takes a while under -race: tests share one
// pair of host keys, copied into each test's data directory.
var (
	keysOnce sync.Once
	keysDir  string
	keysErr  error
)

func sharedKeys(t *testing.T) string {
	keysOnce.Do(func() {
		dir, err := os.MkdirTemp("", "labd-ssh-keys-")
		if err != nil {
			keysErr = err
			return
		}
		keysDir = dir
		_, keysErr = labssh.LoadHostKeys(fsroot.Layout{DataDir: dir})
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return filepath.Join(keysDir, "keys")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keysDir != "" {
		os.RemoveAll(keysDir)
	}
	os.Exit(code)
}

func copyKeys(t *testing.T, layout fsroot.Layout) {
	t.Helper()
	src := sharedKeys(t)
	if err := os.MkdirAll(layout.KeyDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(layout.KeyDir(), e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

type env struct {
	svc  *labssh.Service
	deps service.Deps
	addr string
}

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
	copyKeys(t, deps.Layout)
	svc, err := labssh.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	svc.FailDelay = 5 * time.Millisecond
	eps := labtest.Start(t, svc)
	return &env{svc: svc, deps: deps, addr: labtest.Addr(t, eps, "ssh", "tcp")}
}

func clientConfig(user string, auth ...gossh.AuthMethod) *gossh.ClientConfig {
	return &gossh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	}
}

func (e *env) dial(t *testing.T, cc *gossh.ClientConfig) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", e.addr, cc)
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) login(t *testing.T) *gossh.Client {
	return e.dial(t, clientConfig("alice", gossh.Password("alice")))
}

func kbdAnswer(pass string, asked *[]string) gossh.AuthMethod {
	return gossh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		ans := make([]string, len(questions))
		for i, q := range questions {
			if asked != nil {
				*asked = append(*asked, q)
			}
			if echos[i] {
				return nil, errors.New("the password prompt must not echo")
			}
			ans[i] = pass
		}
		return ans, nil
	})
}

func TestAuth(t *testing.T) {
	e := start(t, nil)
	var asked []string
	cases := []struct {
		name string
		user string
		auth gossh.AuthMethod
		ok   bool
	}{
		{"password", "alice", gossh.Password("alice"), true},
		{"password, other user", "bob", gossh.Password("bob"), true},
		{"password, user name in capitals", "Alice", gossh.Password("alice"), true},
		{"keyboard-interactive", "alice", kbdAnswer("alice", &asked), true},
		{"wrong password", "alice", gossh.Password("bob"), false},
		{"wrong keyboard-interactive", "alice", kbdAnswer("nope", nil), false},
		{"unknown user", "mallory", gossh.Password("mallory"), false},
		{"empty password", "alice", gossh.Password(""), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, err := gossh.Dial("tcp", e.addr, clientConfig(c.user, c.auth))
			if c.ok {
				if err != nil {
					t.Fatalf("login refused: %v", err)
				}
				defer cl.Close()
				out := runCmd(t, cl, "whoami")
				if want := strings.ToLower(c.user) + "\n"; out != want {
					t.Errorf("whoami = %q, want %q", out, want)
				}
				return
			}
			if err == nil {
				cl.Close()
				t.Fatal("login accepted")
			}
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("error = %v, want an authentication failure", err)
			}
		})
	}
	if len(asked) != 1 || asked[0] != "Password: " {
		t.Errorf("keyboard-interactive asked %q, want one \"Password: \"", asked)
	}
}

func TestNoAuthMethodNone(t *testing.T) {
	e := start(t, nil)
	// A client with no method at all only tries "none": it must fail.
	_, err := gossh.Dial("tcp", e.addr, clientConfig("alice"))
	if err == nil {
		t.Fatal("login without credentials accepted")
	}
}

func TestPublicKey(t *testing.T) {
	e := start(t, nil)
	signer, _, line := labtest.SSHKey(t)
	otherSigner, _, _ := labtest.SSHKey(t)

	// Not yet listed: refused.
	if c, err := gossh.Dial("tcp", e.addr, clientConfig("alice", gossh.PublicKeys(signer))); err == nil {
		c.Close()
		t.Fatal("unlisted key accepted")
	}
	if err := e.deps.Store.AddKey(context.Background(), "alice", strings.TrimSpace(line)+" alice@laptop"); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, clientConfig("alice", gossh.PublicKeys(signer)))
	if out := runCmd(t, c, "whoami"); out != "alice\n" {
		t.Errorf("whoami = %q", out)
	}
	// alice's key is not bob's.
	if c, err := gossh.Dial("tcp", e.addr, clientConfig("bob", gossh.PublicKeys(signer))); err == nil {
		c.Close()
		t.Error("alice's key accepted for bob")
	}
	if c, err := gossh.Dial("tcp", e.addr, clientConfig("alice", gossh.PublicKeys(otherSigner))); err == nil {
		c.Close()
		t.Error("another key accepted for alice")
	}
	// The session registry knows the user and how they logged in.
	found := false
	for _, in := range e.deps.Sessions.List() {
		if in.Proto == "ssh" && in.User == "alice" && in.Attrs["auth"] == "publickey" {
			found = true
		}
	}
	if !found {
		t.Errorf("no ssh session of alice with auth=publickey in %+v", e.deps.Sessions.List())
	}
}

func TestMaxAuthTries(t *testing.T) {
	e := start(t, func(c *config.Config) { c.SSH.MaxAuthTries = 2 })
	tries := 0
	auth := gossh.RetryableAuthMethod(gossh.PasswordCallback(func() (string, error) {
		tries++
		return "wrong", nil
	}), 10)
	_, err := gossh.Dial("tcp", e.addr, clientConfig("alice", auth))
	if err == nil {
		t.Fatal("login accepted")
	}
	if tries > 2 {
		t.Errorf("server allowed %d password tries, max_auth_tries is 2", tries)
	}
	// The daemon goes on.
	c := e.login(t)
	if out := runCmd(t, c, "whoami"); out != "alice\n" {
		t.Errorf("whoami after failures = %q", out)
	}
}

func hostKeyOf(t *testing.T, addr, algo string) string {
	t.Helper()
	var got string
	cc := clientConfig("alice", gossh.Password("alice"))
	cc.HostKeyAlgorithms = []string{algo}
	cc.HostKeyCallback = func(_ string, _ net.Addr, key gossh.PublicKey) error {
		got = gossh.FingerprintSHA256(key)
		return nil
	}
	c, err := gossh.Dial("tcp", addr, cc)
	if err != nil {
		t.Fatalf("dial with %s: %v", algo, err)
	}
	c.Close()
	return got
}

func TestHostKeyStable(t *testing.T) {
	cfg := labtest.Config(t)
	deps := labtest.Deps(t, cfg)
	// Real generation here (the other tests share keys).
	s1, err := labssh.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range s1.HostKeys() {
		if !k.Created {
			t.Errorf("%s: not generated at first start", k.Path)
		}
		fi, err := os.Stat(k.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", k.Path, fi.Mode().Perm())
		}
	}
	addr1 := labtest.Addr(t, labtest.Start(t, s1), "ssh", "tcp")
	ed1 := hostKeyOf(t, addr1, gossh.KeyAlgoED25519)
	rsa1 := hostKeyOf(t, addr1, gossh.KeyAlgoRSASHA256)

	s2, err := labssh.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range s2.HostKeys() {
		if k.Created {
			t.Errorf("%s: generated again at the second start", k.Path)
		}
	}
	addr2 := labtest.Addr(t, labtest.Start(t, s2), "ssh", "tcp")
	if ed2 := hostKeyOf(t, addr2, gossh.KeyAlgoED25519); ed2 != ed1 {
		t.Errorf("ed25519 host key changed across restarts: %s then %s", ed1, ed2)
	}
	if rsa2 := hostKeyOf(t, addr2, gossh.KeyAlgoRSASHA256); rsa2 != rsa1 {
		t.Errorf("RSA host key changed across restarts: %s then %s", rsa1, rsa2)
	}
	fps, _, err := labssh.HostKeyFingerprints(deps.Layout)
	if err != nil {
		t.Fatal(err)
	}
	if len(fps) != 2 || fps[0].SHA256 != ed1 || fps[1].SHA256 != rsa1 || fps[1].Bits != 3072 {
		t.Errorf("fingerprints %+v, want %s and %s (RSA 3072)", fps, ed1, rsa1)
	}
}

func runCmd(t *testing.T, c *gossh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Output(cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out)
}

func TestExec(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	cases := []struct {
		cmd      string
		status   int
		stdout   string // exact, or substring when contains
		contains bool
		stderr   string
	}{
		{cmd: "whoami", stdout: "alice\n"},
		{cmd: "pwd", stdout: "/home/alice\n"},
		{cmd: "echo hello world", stdout: "hello world\n"},
		{cmd: "ls", stdout: "public_html", contains: true},
		{cmd: "frobnicate", status: 127, stderr: "frobnicate: command not found"},
		{cmd: "cat /etc/passwd", status: 1, stderr: "permission denied"},
		// Shell syntax, and the status of the line as the exit status.
		{cmd: "true"},
		{cmd: "false", status: 1},
		{cmd: "exit 3", status: 3},
		{cmd: "ls | cat; echo $HOME", stdout: "public_html/\n/home/alice\n"},
		{cmd: "for i in 1 2; do echo $i; done && cat nothere 2>&1", status: 1, stdout: "1\n2\ncat: nothere: No such file or directory\n"},
	}
	for _, tc := range cases {
		t.Run(tc.cmd, func(t *testing.T) {
			o, eb, status := runStatus(t, c, tc.cmd)
			if status != tc.status {
				t.Errorf("status %d, want %d (stderr %q)", status, tc.status, eb)
			}
			if tc.contains && !strings.Contains(o, tc.stdout) || !tc.contains && o != tc.stdout {
				t.Errorf("stdout %q, want %q", o, tc.stdout)
			}
			if !strings.Contains(eb, tc.stderr) {
				t.Errorf("stderr %q, want %q in it", eb, tc.stderr)
			}
		})
	}
	// Without a PTY, the standard input of ssh reaches the command.
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Stdin = strings.NewReader("from stdin\n")
	if err := s.Run("cat > in.txt"); err != nil {
		t.Errorf("cat > in.txt: %v", err)
	}
	s.Close()
	if b, err := os.ReadFile(filepath.Join(e.deps.Layout.Home("alice"), "in.txt")); err != nil || string(b) != "from stdin\n" {
		t.Errorf("in.txt = %q, %v", b, err)
	}
	// A file written by one exec is there for the next: same home.
	runCmd(t, c, "echo persisted > note.txt")
	if b, err := os.ReadFile(filepath.Join(e.deps.Layout.Home("alice"), "note.txt")); err != nil || string(b) != "persisted\n" {
		t.Errorf("note.txt = %q, %v", b, err)
	}
}

func TestShellWithoutPTY(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var o, eb bytes.Buffer
	s.Stdout, s.Stderr = &o, &eb
	s.Stdin = strings.NewReader("whoami\ncd public_html\npwd\nnosuch\nexit\nwhoami\n")
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	err = s.Wait()
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 127 {
		t.Errorf("exit: %v, want the status of the last command (127)", err)
	}
	if o.String() != "alice\n/home/alice/public_html\n" {
		t.Errorf("stdout %q", o.String())
	}
	if !strings.Contains(eb.String(), "nosuch: command not found") {
		t.Errorf("stderr %q", eb.String())
	}
}

// term is a PTY session read until a marker.
type term struct {
	t   *testing.T
	s   *gossh.Session
	in  io.WriteCloser
	out chan []byte
	buf []byte
}

func openPTY(t *testing.T, c *gossh.Client, beforeShell func(*gossh.Session)) *term {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{gossh.ECHO: 1}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.StdinPipe()
	outp, _ := s.StdoutPipe()
	if beforeShell != nil {
		beforeShell(s)
	}
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, s: s, in: in, out: make(chan []byte, 64)}
	go func() {
		defer close(tm.out)
		for {
			b := make([]byte, 4096)
			n, err := outp.Read(b)
			if n > 0 {
				tm.out <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return tm
}

// until reads until marker appears and returns everything read up to and
// including it.
func (tm *term) until(marker string) string {
	tm.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if i := strings.Index(string(tm.buf), marker); i >= 0 {
			got := string(tm.buf[:i+len(marker)])
			tm.buf = tm.buf[i+len(marker):]
			return got
		}
		select {
		case b, ok := <-tm.out:
			if !ok {
				tm.t.Fatalf("session ended before %q; got %q", marker, tm.buf)
			}
			tm.buf = append(tm.buf, b...)
		case <-deadline:
			tm.t.Fatalf("no %q within 10s; got %q", marker, tm.buf)
		}
	}
}

func (tm *term) send(s string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.in, s); err != nil {
		tm.t.Fatal(err)
	}
}

func TestPTYShell(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	tm := openPTY(t, c, nil)
	prompt := "alice@labd:~$ "
	motd := tm.until(prompt)
	if !strings.Contains(motd, "Welcome to the labd lab shell") {
		t.Errorf("no motd before the first prompt: %q", motd)
	}
	tm.send("pwd\r")
	out := tm.until(prompt)
	if !strings.Contains(out, "pwd\r\n") || !strings.Contains(out, "/home/alice\r\n") {
		t.Errorf("pwd: %q (want the echoed command and the output, CRLF)", out)
	}
	// Up arrow recalls pwd; Enter runs it again.
	tm.send("\x1b[A")
	tm.until("pwd")
	tm.send("\r")
	if out := tm.until(prompt); !strings.Contains(out, "/home/alice\r\n") {
		t.Errorf("recalled pwd: %q", out)
	}
	// A resize mid-session does not hang anything.
	for i := 0; i < 5; i++ {
		if err := tm.s.WindowChange(30+i, 100+i); err != nil {
			t.Fatal(err)
		}
	}
	// The shell got the new size: x/term's Terminal redraws the line.
	tm.until("\x1b[K" + prompt)
	tm.send("cd public_html\r")
	tm.until("alice@labd:~/public_html$ ")
	tm.send("history\r")
	tm.until("history\r\n")
	// The history lists what was typed, in order.
	tm.until("pwd")
	tm.until("cd public_html")
	tm.until("alice@labd:~/public_html$ ")
	tm.send("exit\r")
	done := make(chan error, 1)
	go func() { done <- tm.s.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end after exit")
	}
}

func TestWindowChangeBeforeShell(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	// Several window-change requests before "shell": with gliderlabs'
	// one-slot channel not drained, the second one would block the
	// session's request loop and the shell request would never be
	// answered.
	tm := openPTY(t, c, func(s *gossh.Session) {
		for i := 0; i < 4; i++ {
			if err := s.WindowChange(40, 120+i); err != nil {
				t.Fatal(err)
			}
		}
	})
	tm.until("$ ")
	tm.send("whoami\r")
	tm.until("whoami\r\nalice\r\n")
	tm.until("alice@labd:~$ ")
}

func TestExecWithPTY(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	out, err := s.CombinedOutput("nosuch")
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 127 {
		t.Errorf("status: %v", err)
	}
	if !strings.Contains(string(out), "command not found") {
		t.Errorf("output %q", out)
	}
}

func TestForwardingRefused(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	// direct-tcpip to our own SSH port: a channel open the server refuses.
	conn, err := c.Dial("tcp", e.addr)
	if err == nil {
		conn.Close()
		t.Fatal("local port forwarding (direct-tcpip) accepted")
	}
	if !strings.Contains(err.Error(), "rejected") {
		t.Errorf("error %v, want a rejected channel", err)
	}
	if _, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Error("remote port forwarding (tcpip-forward) accepted")
	}
	// The connection goes on.
	if out := runCmd(t, c, "whoami"); out != "alice\n" {
		t.Errorf("whoami = %q", out)
	}
}

func TestAgentForwardingRefused(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ok, err := s.SendRequest("auth-agent-req@openssh.com", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("agent forwarding accepted")
	}
	ok, _ = s.SendRequest("x11-req", true, gossh.Marshal(struct {
		Single        bool
		Proto, Cookie string
		Screen        uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0}))
	if ok {
		t.Error("X11 forwarding accepted")
	}
}

func newSFTP(t *testing.T, c *gossh.Client) *sftp.Client {
	t.Helper()
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

func TestSFTP(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	sc := newSFTP(t, c)
	home := e.deps.Layout.Home("alice")

	wd, err := sc.Getwd()
	if err != nil || wd != "/" {
		t.Errorf("Getwd = %q, %v; want / (the home)", wd, err)
	}
	// put
	f, err := sc.Create("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160 kB, several packets
	if _, err := f.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(home, "hello.txt")); err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("file on disk: %d bytes, %v", len(b), err)
	}
	// get
	g, err := sc.Open("/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(g)
	g.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	// mkdir, rename into it, list
	if err := sc.Mkdir("docs"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rename("hello.txt", "docs/hello.txt"); err != nil {
		t.Fatal(err)
	}
	if err := sc.PosixRename("docs/hello.txt", "docs/renamed.txt"); err != nil {
		t.Fatal(err)
	}
	ents, err := sc.ReadDir("/docs")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "renamed.txt" || ents[0].Size() != int64(len(payload)) {
		t.Errorf("ls docs: %v", ents)
	}
	root, err := sc.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, fi := range root {
		names = append(names, fi.Name())
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "docs,pub,public_html" { // pub: the shared pub/ (TestSFTPPub)
		t.Errorf("ls /: %v", names)
	}
	// The shell's name for the home works too.
	if fi, err := sc.Stat("/home/alice/docs/renamed.txt"); err != nil || fi.Size() != int64(len(payload)) {
		t.Errorf("stat via /home/alice: %v %v", fi, err)
	}
	// setstat: truncate, chmod, chtimes
	if err := sc.Truncate("docs/renamed.txt", 10); err != nil {
		t.Error(err)
	}
	if err := sc.Chmod("docs/renamed.txt", 0o600); err != nil {
		t.Error(err)
	}
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := sc.Chtimes("docs/renamed.txt", when, when); err != nil {
		t.Error(err)
	}
	fi, err := os.Stat(filepath.Join(home, "docs", "renamed.txt"))
	if err != nil || fi.Size() != 10 || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(when) {
		t.Errorf("after setstat: %v %v", fi, err)
	}
	// a chown is accepted and ignored
	if err := sc.Chown("docs/renamed.txt", 0, 0); err != nil {
		t.Errorf("chown: %v", err)
	}
	// remove, rmdir
	if err := sc.Remove("docs"); err == nil {
		t.Error("remove of a non-empty directory accepted")
	}
	if err := sc.Remove("docs/renamed.txt"); err != nil {
		t.Error(err)
	}
	if err := sc.RemoveDirectory("docs"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(home, "docs")); !os.IsNotExist(err) {
		t.Errorf("docs still there: %v", err)
	}
	// errors: missing file
	if _, err := sc.Open("nope.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open missing: %v, want not exist", err)
	}
	// Someone else's session sees alice's SFTP in the registry.
	ok := false
	for _, in := range e.deps.Sessions.List() {
		if in.Proto == "ssh" && in.User == "alice" && in.Attrs["subsystem"] == "sftp" {
			ok = true
		}
	}
	if !ok {
		t.Error("no ssh session with subsystem=sftp in the registry")
	}
}

func TestSFTPEscapes(t *testing.T) {
	e := start(t, nil)
	home := e.deps.Layout.Home("alice")
	// A secret outside the home, and a symlink in the home pointing at it.
	outside := filepath.Join(e.deps.Layout.DataDir, "secret.txt")
	if err := os.WriteFile(outside, []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../bob", filepath.Join(home, "bobhome")); err != nil {
		t.Fatal(err)
	}
	c := e.login(t)
	sc := newSFTP(t, c)
	reads := []string{
		"../../etc/passwd", "/etc/passwd", "../secret.txt", "/../secret.txt",
		"link", "/link", "bobhome/public_html/index.html", "/home/bob/public_html/index.html",
	}
	for _, p := range reads {
		f, err := sc.Open(p)
		if err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Errorf("open %s succeeded (%q)", p, b)
			continue
		}
		if _, err := sc.Stat(p); err == nil {
			t.Errorf("stat %s succeeded", p)
		}
	}
	if _, err := sc.ReadDir("bobhome"); err == nil {
		t.Error("listing through a symlink out of the home succeeded")
	}
	// Writes through the symlink do not land outside.
	if f, err := sc.Create("link"); err == nil {
		f.Write([]byte("overwritten"))
		f.Close()
	}
	if b, _ := os.ReadFile(outside); string(b) != "top secret" {
		t.Errorf("outside file changed: %q", b)
	}
	if f, err := sc.Create("../escaped.txt"); err == nil {
		f.Close()
	}
	if _, err := os.Stat(filepath.Join(e.deps.Layout.HomeRoot(), "escaped.txt")); err == nil {
		t.Error("a file was created outside the home")
	}
	// Creating a symlink is refused.
	if err := sc.Symlink("/etc/passwd", "mylink"); err == nil {
		t.Error("symlink creation accepted")
	}
	if _, err := os.Lstat(filepath.Join(home, "mylink")); err == nil {
		t.Error("symlink created")
	}
	// Readlink does not reveal a host path.
	if target, err := sc.ReadLink("link"); err == nil {
		t.Errorf("readlink link = %q", target)
	}
	// Renaming out of the home fails; the file stays.
	os.WriteFile(filepath.Join(home, "mine.txt"), []byte("x"), 0o644)
	sc.Rename("mine.txt", "bobhome/stolen.txt")
	if _, err := os.Stat(filepath.Join(home, "mine.txt")); err != nil {
		t.Errorf("mine.txt moved: %v", err)
	}
	// RealPath never names anything above the home.
	for _, p := range []string{"..", "../..", "/..", "/home/alice"} {
		rp, err := sc.RealPath(p)
		if err != nil || rp != "/" {
			t.Errorf("realpath %s = %q, %v", p, rp, err)
		}
	}
}

func TestBannerAndIdleTimeout(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Shell.Banner = "Lab host of room B12.\nAuthorized students only."
		// Long enough for a key exchange under -race on a loaded machine:
		// the idle timer runs between every read of the handshake too.
		c.SSH.IdleTimeout = config.Duration(2 * time.Second)
	})
	var banner string
	cc := clientConfig("alice", gossh.Password("alice"))
	cc.BannerCallback = func(m string) error { banner = m; return nil }
	c := e.dial(t, cc)
	if banner != "Lab host of room B12.\r\nAuthorized students only.\r\n" {
		t.Errorf("banner %q", banner)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("idle connection still open after 10s (idle_timeout 2s)")
	}
}

func TestDaemon(t *testing.T) {
	cfg := labtest.Config(t)
	copyKeys(t, fsroot.Layout{DataDir: cfg.Server.DataDir})
	d := labtest.StartDaemon(t, cfg)
	addr := d.Addr(t, "ssh", "tcp")
	c, err := gossh.Dial("tcp", addr, clientConfig("bob", gossh.Password("bob")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The shell's ss sees this very connection, with the client's real
	// port, and who sees bob over ssh.
	out := runCmd(t, c, "ss -tan")
	if !strings.Contains(out, c.LocalAddr().String()) || !strings.Contains(out, addr) {
		t.Errorf("ss -tan does not list %s -> %s:\n%s", c.LocalAddr(), addr, out)
	}
	if out := runCmd(t, c, "who"); !strings.Contains(out, "bob") || !strings.Contains(out, "ssh") {
		t.Errorf("who: %q", out)
	}
}

// execIO runs one command with stdin and returns stdout and the status.
func execIO(t *testing.T, c *gossh.Client, cmd, stdin string) (string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Stdin = strings.NewReader(stdin)
	out, err := s.Output(cmd)
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitStatus()
	}
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out), 0
}

func TestLegacySCPProtocol(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	home := e.deps.Layout.Home("alice")
	// Upload: the client sends C mode size name, the data, and a 0.
	out, code := execIO(t, c, "scp -t up.txt", "C0640 5 whatever.txt\nhello\x00")
	if code != 0 || out != "\x00\x00\x00" {
		t.Errorf("scp -t: status %d out %q, want three acks", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(home, "up.txt")); err != nil || string(b) != "hello" {
		t.Errorf("up.txt = %q, %v", b, err)
	}
	// A directory tree into an existing directory.
	out, code = execIO(t, c, "scp -r -t public_html", "D0755 0 site\nC0644 2 a.txt\nhi\x00E\n")
	if code != 0 {
		t.Errorf("scp -r -t: status %d out %q", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(home, "public_html", "site", "a.txt")); err != nil || string(b) != "hi" {
		t.Errorf("site/a.txt = %q, %v", b, err)
	}
	// Names that would leave the directory are a protocol error.
	for _, name := range []string{"../evil.txt", "..", "a/b"} {
		out, code = execIO(t, c, "scp -t .", "C0644 1 "+name+"\nx\x00")
		if code == 0 || !strings.Contains(out, "\x02scp: protocol error") {
			t.Errorf("scp -t with name %q: status %d out %q", name, code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(e.deps.Layout.HomeRoot(), "evil.txt")); err == nil {
		t.Error("evil.txt written outside the home")
	}
	// A target outside the home is refused.
	out, code = execIO(t, c, "scp -t ../bob/stolen.txt", "C0644 1 x\nx\x00")
	if _, err := os.Stat(filepath.Join(e.deps.Layout.Home("bob"), "stolen.txt")); err == nil {
		t.Errorf("a file was written in bob's home (status %d out %q)", code, out)
	}
	// Download: the client acks each step.
	out, code = execIO(t, c, "scp -f up.txt", "\x00\x00\x00")
	if code != 0 || out != "C0640 5 up.txt\nhello\x00" {
		t.Errorf("scp -f: status %d out %q", code, out)
	}
	for _, p := range []string{"/etc/passwd", "../../../etc/passwd", "../bob/public_html/index.html"} {
		out, code = execIO(t, c, "scp -f "+p, "\x00")
		if code == 0 || !strings.HasPrefix(out, "\x01scp: ") || strings.Contains(out, "root:") {
			t.Errorf("scp -f %s: status %d out %q", p, code, out)
		}
	}
}

func TestCheck(t *testing.T) {
	cfg := labtest.Config(t)
	if err := labssh.Check(cfg); err != nil {
		t.Errorf("no keys yet: %v", err)
	}
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	copyKeys(t, layout)
	if err := labssh.Check(cfg); err != nil {
		t.Errorf("good keys: %v", err)
	}
	bad := filepath.Join(layout.KeyDir(), "ssh_host_rsa_key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if err := labssh.Check(cfg); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt key: %v", err)
	}
	// The keys load while the other services start: the daemon learns
	// of a corrupt one from Serve, before SSH accepts anything.
	svc, err := labssh.NewService(labtest.Deps(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Serve with a corrupt key: %v", err)
	}
}

// Shell users are told before labd stops, as over Telnet.
func TestShutdownNotice(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	tm := openPTY(t, c, nil)
	tm.until("alice@labd:~$ ")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go e.svc.Shutdown(ctx)
	tm.until("labd is shutting down")
}

// SFTP shows the shared pub/ as /pub, like the FTP view: read-only unless
// ftp.pub_writable.
func TestSFTPPub(t *testing.T) {
	for _, writable := range []bool{false, true} {
		e := start(t, func(c *config.Config) { c.FTP.PubWritable = writable })
		if err := os.WriteFile(filepath.Join(e.deps.Layout.Pub(), "shared.txt"), []byte("for all\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sc := newSFTP(t, e.login(t))
		ents, err := sc.ReadDir("/")
		found := false
		for _, fi := range ents {
			found = found || (fi.Name() == "pub" && fi.IsDir())
		}
		if err != nil || !found {
			t.Fatalf("ls /: %v %v", ents, err)
		}
		f, err := sc.Open("/pub/shared.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "for all\n" {
			t.Errorf("/pub/shared.txt: %q", b)
		}
		w, err := sc.Create("/pub/up.txt")
		if err == nil {
			_, err = w.Write([]byte("x"))
			w.Close()
		}
		if (err == nil) != writable {
			t.Errorf("writable=%v: put /pub/up.txt: %v", writable, err)
		}
		if err := sc.Rename("/pub/shared.txt", "/stolen.txt"); err == nil {
			t.Error("rename across /pub accepted")
		}
		if err := sc.RemoveDirectory("/pub"); err == nil {
			t.Error("rmdir /pub accepted")
		}
	}
}

// TestPTYCtrlC: Ctrl-C on the PTY ends a running loop, not the session.
func TestPTYCtrlC(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	tm := openPTY(t, c, nil)
	prompt := "alice@labd:~$ "
	tm.until(prompt)
	tm.send("while true; do :; done\r")
	tm.until("done\r\n")
	tm.send("\x03")
	tm.until("^C\r\n" + prompt)
	tm.send("echo still $USER\r")
	tm.until("still alice\r\n" + prompt)
	tm.send("exit\r")
	if err := tm.s.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestScriptOverStdin: ssh -T host < script runs loops and here-documents
// that span lines.
func TestScriptOverStdin(t *testing.T) {
	e := start(t, nil)
	c := e.login(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var o bytes.Buffer
	s.Stdout = &o
	s.Stdin = strings.NewReader("for i in 1 2\ndo\n  echo x$i\ndone\ncat <<EOF\nhd $USER\nEOF\n")
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Errorf("script: %v", err)
	}
	if o.String() != "x1\nx2\nhd alice\n" {
		t.Errorf("script output %q", o.String())
	}
}

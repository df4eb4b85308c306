package telnet_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/service"
	. "labd/services/telnet"
)

// Telnet bytes, as the RFCs number them.
const (
	cmdSE   = 240
	cmdAYT  = 246
	cmdSB   = 250
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255

	optEcho   = 1
	optSGA    = 3
	optTTYPE  = 24
	optNAWS   = 31
	ttypeIS   = 0
	ttypeSEND = 1
)

// start runs a Telnet service with test timings for a client that
// negotiates; edit cfg first with mod. The server stops waiting as soon as
// the client has answered its options, so a generous NegotiationWait costs
// nothing and a slow client on a loaded machine is not taken for nc.
func start(t *testing.T, mod func(*config.Config)) (string, service.Deps, *Service) {
	t.Helper()
	return startWait(t, mod, 20*time.Second)
}

// startNC is start for a client that negotiates nothing (nc): the server
// waits NegotiationWait for nothing, whatever its length, so keep it short.
func startNC(t *testing.T, mod func(*config.Config)) (string, service.Deps, *Service) {
	t.Helper()
	return startWait(t, mod, 50*time.Millisecond)
}

func startWait(t *testing.T, mod func(*config.Config), wait time.Duration) (string, service.Deps, *Service) {
	t.Helper()
	cfg := labtest.Config(t)
	if mod != nil {
		mod(cfg)
	}
	return startDeps(t, labtest.Deps(t, cfg), wait)
}

// startDeps is startWait with prepared dependencies.
func startDeps(t *testing.T, deps service.Deps, wait time.Duration) (string, service.Deps, *Service) {
	t.Helper()
	svc, err := New(deps)
	if err != nil {
		t.Fatal(err)
	}
	s := svc.(*Service)
	s.FailDelay = 10 * time.Millisecond
	s.NegotiationWait = wait
	eps := labtest.Start(t, s)
	deps.Endpoints.Add(eps...)
	return labtest.Addr(t, eps, "telnet", "tcp"), deps, s
}

// client is a raw socket with everything the server sent kept.
type client struct {
	t    *testing.T
	c    net.Conn
	mu   sync.Mutex
	got  bytes.Buffer
	eof  chan struct{}
	read int // offset of what expect already consumed
}

func dial(t *testing.T, addr string) *client {
	cl := &client{t: t, c: labtest.Dial(t, addr), eof: make(chan struct{})}
	go func() {
		defer close(cl.eof)
		buf := make([]byte, 4096)
		for {
			n, err := cl.c.Read(buf)
			cl.mu.Lock()
			cl.got.Write(buf[:n])
			cl.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return cl
}

func (cl *client) all() []byte {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]byte(nil), cl.got.Bytes()...)
}

// expect waits for s after what earlier expects consumed and returns what
// came before it.
func (cl *client) expect(s string) string {
	cl.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b := cl.all()
		if i := bytes.Index(b[cl.read:], []byte(s)); i >= 0 {
			before := string(b[cl.read : cl.read+i])
			cl.read += i + len(s)
			return before
		}
		select {
		case <-cl.eof:
			if !bytes.Contains(cl.all()[cl.read:], []byte(s)) {
				cl.t.Fatalf("connection closed before %q; got %q", s, cl.all()[cl.read:])
			}
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	cl.t.Fatalf("never got %q; got %q", s, cl.all()[cl.read:])
	return ""
}

func (cl *client) send(b ...byte) {
	cl.t.Helper()
	if _, err := cl.c.Write(b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *client) sendString(s string) { cl.send([]byte(s)...) }

func (cl *client) waitEOF() {
	cl.t.Helper()
	select {
	case <-cl.eof:
	case <-time.After(10 * time.Second):
		cl.t.Fatalf("server did not close; got %q", cl.all()[cl.read:])
	}
}

var opening = []byte{
	cmdIAC, cmdWILL, optEcho,
	cmdIAC, cmdWILL, optSGA,
	cmdIAC, cmdDO, optNAWS,
	cmdIAC, cmdDO, optTTYPE,
}

// negotiate answers the server's opening like a full client.
func (cl *client) negotiate() {
	cl.t.Helper()
	cl.expect(string(opening))
	cl.send(cmdIAC, cmdDO, optEcho, cmdIAC, cmdDO, optSGA)
	cl.send(cmdIAC, cmdWILL, optNAWS, cmdIAC, cmdSB, optNAWS, 0, 100, 0, 30, cmdIAC, cmdSE)
	cl.send(cmdIAC, cmdWILL, optTTYPE)
	cl.expect(string([]byte{cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE}))
	cl.send(cmdIAC, cmdSB, optTTYPE, ttypeIS)
	cl.sendString("xterm")
	cl.send(cmdIAC, cmdSE)
}

func TestNegotiatedSession(t *testing.T) {
	addr, deps, _ := start(t, nil)
	cl := dial(t, addr)
	// The very first bytes are the server's options, before any text.
	first := make([]byte, len(opening))
	deadline := time.Now().Add(5 * time.Second)
	for len(cl.all()) < len(opening) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	copy(first, cl.all())
	if !bytes.Equal(first, opening) {
		t.Fatalf("first bytes % x, want % x", first, opening)
	}
	cl.negotiate()
	banner := cl.expect("login: ")
	if !strings.Contains(banner, "labd.lab.test") {
		t.Errorf("banner %q", banner)
	}
	// The login name, with its CR LF split from it, is echoed by the server.
	cl.sendString("ali")
	cl.sendString("ce\r")
	cl.sendString("\n")
	if got := cl.expect("Password: "); got != "alice\r\n" {
		t.Errorf("echo of the login name: %q", got)
	}
	cl.sendString("alice\r\x00")
	motd := cl.expect("alice@labd:~$ ")
	if strings.Contains(motd, "alice") {
		t.Errorf("the password was echoed: %q", motd)
	}
	if !strings.Contains(motd, "Welcome to the labd lab shell") {
		t.Errorf("no motd: %q", motd)
	}

	// ss shows this very connection, with the client's real port.
	_, myPort, _ := net.SplitHostPort(cl.c.LocalAddr().String())
	cl.sendString("ss\r\n")
	out := cl.expect("alice@labd:~$ ")
	var mine string
	for _, l := range strings.Split(out, "\r\n") {
		if strings.Contains(l, "127.0.0.1:"+myPort+" ") {
			mine = l
		}
	}
	if !strings.Contains(mine, "ESTAB") || !strings.Contains(mine, addr) || !strings.Contains(mine, "telnet user=alice") {
		t.Errorf("ss does not show this connection (port %s) as ESTAB telnet user=alice:\n%s", myPort, out)
	}
	cl.sendString("who\r\n")
	out = cl.expect("alice@labd:~$ ")
	if !strings.Contains(out, "alice      telnet ") || !strings.Contains(out, "(127.0.0.1:"+myPort+")  <- you") {
		t.Errorf("who: %q", out)
	}

	// The session records what the options said.
	var found bool
	for _, in := range deps.Sessions.Live() {
		if strings.HasSuffix(in.Remote, ":"+myPort) {
			found = true
			if in.User != "alice" || in.Attrs["ttype"] != "xterm" || in.Attrs["naws"] != "100x30" {
				t.Errorf("session: user %q attrs %v", in.User, in.Attrs)
			}
		}
	}
	if !found {
		t.Error("no live session for this connection")
	}

	// A resize (NAWS) reaches the line editor: a 20-column window wraps a
	// long line with a CR LF.
	cl.send(cmdIAC, cmdSB, optNAWS, 0, 20, 0, 30, cmdIAC, cmdSE)
	cl.expect("alice@labd:~$ ") // the line editor repaints the prompt
	cl.sendString("echo 0123456789abcdefghij\r")
	out = cl.expect("alice@labd:~$ ")
	if !strings.Contains(out, "echo 0\r\n123456789abcdefghij\r\n0123456789abcdefghij\r\n") {
		t.Errorf("the typed line did not wrap at 20 columns: %q", out)
	}

	// 255 from the server is sent as IAC IAC.
	if err := os.WriteFile(filepath.Join(deps.Layout.Home("alice"), "bin.dat"), []byte{'<', 255, '>', '\n'}, 0o644); err != nil {
		t.Fatal(err)
	}
	cl.sendString("cat bin.dat\r")
	out = cl.expect("alice@labd:~$ ")
	if !strings.Contains(out, "<\xff\xff>\r\n") {
		t.Errorf("255 not escaped as IAC IAC: %q", out)
	}
	// IAC IAC from the client is a data byte 255 (not UTF-8: shown as ?),
	// and a split IAC command (AYT) is still understood.
	// The server echoes what it read: once "echo x" is back, the IAC that
	// came in the same write has been read alone, and the second IAC comes
	// in a later read.
	cl.send('e', 'c', 'h', 'o', ' ', 'x', cmdIAC)
	cl.expect("echo x")
	cl.send(cmdIAC, 'y', '\r')
	out = cl.expect("alice@labd:~$ ")
	if !strings.Contains(out, "x?y\r\n") {
		t.Errorf("IAC IAC as data: %q", out)
	}
	cl.send(' ', cmdIAC)
	cl.expect(" ") // the space is echoed: the lone IAC was read with it
	cl.send(cmdAYT)
	cl.expect("[labd: yes, I am here]")

	cl.sendString("exit\r")
	cl.expect("Bye.")
	cl.waitEOF()
}

func TestNoNegotiationLineMode(t *testing.T) {
	addr, _, _ := startNC(t, nil)
	cl := dial(t, addr)
	// nc: answers nothing, types lines ended by bare LF.
	cl.expect("login: ")
	cl.sendString("bob\n")
	if got := cl.expect("Password: "); got != "" {
		t.Errorf("line mode echoed the login name: %q", got)
	}
	cl.sendString("bob\n")
	motd := cl.expect("bob@labd:~$ ")
	if strings.Contains(motd, "bob") {
		t.Errorf("password echoed in line mode: %q", motd)
	}
	cl.sendString("whoami\n")
	if out := cl.expect("bob@labd:~$ "); out != "bob\r\n" {
		t.Errorf("whoami in line mode: %q", out)
	}
	cl.sendString("echo hi > f.txt\r\ncat f.txt\r\n")
	cl.expect("bob@labd:~$ ")
	if out := cl.expect("bob@labd:~$ "); out != "hi\r\n" {
		t.Errorf("cat: %q", out)
	}
	cl.sendString("logout\n")
	cl.waitEOF()
}

func TestLoginFailures(t *testing.T) {
	addr, _, _ := startNC(t, func(c *config.Config) { c.Telnet.MaxAuthTries = 3 })
	// A failure then a success.
	cl := dial(t, addr)
	cl.expect("login: ")
	cl.sendString("alice\n")
	cl.expect("Password: ")
	cl.sendString("wrong\n")
	cl.expect("Login incorrect")
	cl.expect("login: ")
	cl.sendString("alice\n")
	cl.expect("Password: ")
	cl.sendString("alice\n")
	cl.expect("alice@labd:~$ ")
	cl.sendString("exit\n")
	cl.waitEOF()

	// Three failures: a message, then the server hangs up.
	cl = dial(t, addr)
	for i := 0; i < 3; i++ {
		cl.expect("login: ")
		cl.sendString("mallory\n")
		cl.expect("Password: ")
		cl.sendString("guess" + strconv.Itoa(i) + "\n")
		cl.expect("Login incorrect")
	}
	cl.expect("Too many failed login attempts (3): disconnecting.")
	cl.waitEOF()
	if bytes.Contains(cl.all(), []byte("$ ")) {
		t.Error("a prompt appeared after failed logins")
	}
}

func TestNoNegotiationLoop(t *testing.T) {
	addr, _, _ := start(t, nil)
	cl := dial(t, addr)
	cl.expect(string(opening))
	// DO ECHO twice, WILL NAWS twice, and options labd does not support.
	// DO SGA answers the last open option, so the server stops waiting
	// for answers without a timeout.
	cl.send(cmdIAC, cmdDO, optEcho, cmdIAC, cmdDO, optEcho)
	cl.send(cmdIAC, cmdDO, optSGA)
	cl.send(cmdIAC, cmdWILL, optNAWS, cmdIAC, cmdWILL, optNAWS)
	cl.send(cmdIAC, cmdWONT, optTTYPE)
	cl.send(cmdIAC, cmdWILL, 34)     // LINEMODE
	cl.send(cmdIAC, cmdDO, 0)        // BINARY
	cl.send(cmdIAC, cmdWILL, 39)     // NEW-ENVIRON
	cl.send(cmdIAC, cmdDO, optTTYPE) // the server does not send TTYPE
	cl.expect("login: ")
	// Echo was agreed: the login name comes back. The server handles its
	// input in order, so once "Password: " is here it has answered every
	// option sent before the name: the count below is final.
	cl.sendString("bob\r\n")
	if got := cl.expect("Password: "); !strings.HasSuffix(got, "bob\r\n") {
		t.Errorf("echo: %q", got)
	}
	got := cl.all()
	count := func(seq ...byte) int { return bytes.Count(got, seq) }
	if n := count(cmdIAC, cmdWILL, optEcho); n != 1 {
		t.Errorf("WILL ECHO sent %d times", n)
	}
	if n := count(cmdIAC, cmdDO, optNAWS); n != 1 {
		t.Errorf("DO NAWS sent %d times", n)
	}
	if n := count(cmdIAC, cmdDONT, 34); n != 1 {
		t.Errorf("LINEMODE not refused once (DONT): %d", n)
	}
	if n := count(cmdIAC, cmdWONT, 0); n != 1 {
		t.Errorf("BINARY not refused once (WONT): %d", n)
	}
	if n := count(cmdIAC, cmdDONT, 39); n != 1 {
		t.Errorf("NEW-ENVIRON not refused once: %d", n)
	}
	if n := count(cmdIAC, cmdWONT, optTTYPE); n != 1 {
		t.Errorf("DO TTYPE not refused once: %d", n)
	}
	if n := count(cmdIAC, cmdSB, optTTYPE); n != 0 {
		t.Errorf("TTYPE SEND after WONT TTYPE")
	}
	// Every IAC command the server sent is accounted for: no reply to the
	// repeated DO ECHO / WILL NAWS.
	if n := bytes.Count(got, []byte{cmdIAC}); n != 4+4 {
		t.Errorf("server sent %d IAC commands, want 8: % x", n, got)
	}
}

func TestIdleTimeout(t *testing.T) {
	addr, _, _ := startNC(t, func(c *config.Config) { c.Telnet.IdleTimeout = config.Duration(500 * time.Millisecond) })
	cl := dial(t, addr)
	cl.expect("login: ")
	cl.expect("No input for 500ms: disconnecting. Bye.")
	cl.waitEOF()
}

// TestRealTelnetClient drives the Debian telnet client through expect.
func TestRealTelnetClient(t *testing.T) {
	expect := labtest.Tool(t, "expect")
	telnet := labtest.Tool(t, "telnet")
	addr, _, _ := start(t, nil)
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf(`
set timeout 15
spawn %s %s %s
expect "login: "
send "alice\r"
expect "Password: "
send "alice\r"
expect "alice@labd:~\$ "
send "whoami\r"
expect "alice@labd:~\$ "
send "pwd\r"
expect "alice@labd:~\$ "
send "exit\r"
expect eof
`, telnet, host, port)
	f := filepath.Join(t.TempDir(), "session.exp")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(expect, f).CombinedOutput()
	o := strings.ReplaceAll(string(out), "\r", "")
	if err != nil {
		t.Fatalf("expect: %v\n%s", err, o)
	}
	for _, want := range []string{"Connected to", "login: alice", "whoami\nalice\n", "pwd\n/home/alice\n", "Connection closed by foreign host"} {
		if !strings.Contains(o, want) {
			t.Errorf("telnet session lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "Password: alice") {
		t.Errorf("the password was echoed to the telnet client:\n%s", o)
	}
}

// TestDaemon checks the registration: the whole daemon serves Telnet.
func TestDaemon(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	cl := dial(t, d.Addr(t, "telnet", "tcp"))
	cl.expect(string(opening))
	cl.expect("login: ")
	cl.sendString("alice\r\n")
	cl.expect("Password: ")
	cl.sendString("alice\r\n")
	cl.expect("alice@labd:~$ ")
	cl.sendString("ss -l\n")
	if out := cl.expect("alice@labd:~$ "); !strings.Contains(out, "LISTEN  0      0      "+d.Addr(t, "telnet", "tcp")) {
		t.Errorf("ss -l in the daemon: %q", out)
	}
	cl.sendString("exit\n")
	cl.waitEOF()
}

func TestPerIPCap(t *testing.T) {
	addr, _, _ := startNC(t, func(c *config.Config) { c.Telnet.MaxConnsPerIP = 1 })
	first := dial(t, addr)
	first.expect("login: ")
	second := dial(t, addr)
	second.expect("Too many connections from your address")
	second.waitEOF()
}

// TestClientRefusesEcho: DONT ECHO means line mode, and a client WILL ECHO
// is refused (two echoing sides would loop).
func TestClientRefusesEcho(t *testing.T) {
	// The idle timeout must outlast each round trip below on a loaded
	// machine, and fire at the end.
	addr, _, _ := start(t, func(c *config.Config) { c.Telnet.IdleTimeout = config.Duration(3 * time.Second) })
	cl := dial(t, addr)
	cl.expect(string(opening))
	cl.send(cmdIAC, cmdDONT, optEcho, cmdIAC, cmdWILL, optEcho, cmdIAC, cmdDONT, optSGA, cmdIAC, cmdWONT, optNAWS, cmdIAC, cmdWONT, optTTYPE)
	before := cl.expect("login: ")
	if !strings.Contains(before, string([]byte{cmdIAC, cmdDONT, optEcho})) {
		t.Errorf("client WILL ECHO not refused: % x", before)
	}
	cl.sendString("alice\r\n")
	if got := cl.expect("Password: "); got != "" {
		t.Errorf("server echoed after DONT ECHO: %q", got)
	}
	cl.sendString("alice\r\n")
	cl.expect("alice@labd:~$ ")
	cl.sendString("pwd\r\n")
	if got := cl.expect("alice@labd:~$ "); got != "/home/alice\r\n" {
		t.Errorf("pwd in line mode: %q", got)
	}
	// The idle timeout applies in the shell too.
	cl.expect("No input for 3s: disconnecting. Bye.")
	cl.waitEOF()
}

// TestShutdownWarns: a logged-in user is told before labd closes the
// session at shutdown.
func TestShutdownWarns(t *testing.T) {
	cfg := labtest.Config(t)
	deps := labtest.Deps(t, cfg)
	svc, _ := New(deps)
	s := svc.(*Service)
	s.NegotiationWait = 100 * time.Millisecond
	eps, err := s.Bind()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	cl := dial(t, eps[0].Addr)
	cl.expect("login: ")
	cl.sendString("alice\n")
	cl.expect("Password: ")
	cl.sendString("alice\n")
	cl.expect("alice@labd:~$ ")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// Shutdown waits for the sessions to end: the user reads the warning
	// and logs out, as asked (no grace period to race with).
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	drained := make(chan error, 1)
	go func() { drained <- s.Shutdown(sctx) }()
	cl.expect("labd is shutting down")
	cl.sendString("exit\n")
	cl.waitEOF()
	if err := <-drained; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if sctx.Err() != nil {
		t.Fatal("shutdown waited for its deadline, not for the session to end")
	}
}

// TestShellSyntaxOverTelnet: pipelines, redirections, loops and Ctrl-C in
// a negotiated Telnet session.
func TestShellSyntaxOverTelnet(t *testing.T) {
	addr, _, _ := start(t, nil)
	cl := dial(t, addr)
	cl.negotiate()
	cl.expect("login: ")
	cl.sendString("alice\r\n")
	cl.expect("Password: ")
	cl.sendString("alice\r\n")
	prompt := "alice@labd:~$ "
	cl.expect(prompt)
	cl.sendString("echo a > f; echo b >> f; cat < f | wc -l\r\n")
	if out := cl.expect(prompt); !strings.Contains(out, "\r\n2\r\n") {
		t.Errorf("pipeline: %q", out)
	}
	cl.sendString("for i in 1 2 3; do echo n$i; done | grep -c n 2>&1\r\n")
	if out := cl.expect(prompt); !strings.Contains(out, "\r\n3\r\n") {
		t.Errorf("loop: %q", out)
	}
	cl.sendString("while true; do :; done\r\n")
	cl.expect("done\r\n")
	cl.send(3) // Ctrl-C
	cl.expect("^C\r\n" + prompt)
	cl.sendString("echo still $USER\r\n")
	if out := cl.expect(prompt); !strings.Contains(out, "still alice\r\n") {
		t.Errorf("after Ctrl-C: %q", out)
	}
}

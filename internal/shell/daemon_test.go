package shell_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"labd/internal/labtest"
	"labd/internal/service"
	"labd/internal/shell"
)

// These tests run the whole daemon: the shell's network clients talk to
// labd's own services, as a student does from inside the host.

func daemonShell(t *testing.T) (*shell.Shell, *labtest.Daemon) {
	t.Helper()
	d := labtest.StartDaemon(t, labtest.Config(t))
	sh, err := shell.New(shell.Env{Deps: d.Deps, User: "alice", Proto: "ssh", Remote: "127.0.0.1:40000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return sh, d
}

func execIn(t *testing.T, sh *shell.Shell, line, stdin string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	st := sh.ExecIO(context.Background(), line, strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), st
}

func lastMessage(t *testing.T, deps service.Deps, user string) string {
	t.Helper()
	ctx := context.Background()
	mb, err := deps.Store.Mailbox(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := deps.Store.Messages(ctx, mb.ID)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("%s's INBOX is empty (%v)", user, err)
	}
	b, err := deps.Store.Body(ctx, mb.ID, msgs[len(msgs)-1].UID)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNetworkClients(t *testing.T) {
	sh, d := daemonShell(t)
	smtp := labtest.Port(t, d.Addr(t, "smtp", "tcp"))
	httpPort := labtest.Port(t, d.Addr(t, "http", "tcp"))

	// A whole SMTP delivery typed into nc (LF line ends, as a student types).
	session := "EHLO shell\nMAIL FROM:<alice@lab.test>\nRCPT TO:<bob@lab.test>\nDATA\nSubject: typed in nc\n\nhello from nc\n.\nQUIT\n"
	o, e, st := execIn(t, sh, "nc 127.0.0.1 "+smtp, session)
	if st != 0 || !strings.Contains(o, "250 ") || !strings.Contains(o, "221 ") {
		t.Fatalf("nc smtp: status %d\nstdout %q\nstderr %q", st, o, e)
	}
	if m := lastMessage(t, d.Deps, "bob"); !strings.Contains(m, "Subject: typed in nc") || !strings.Contains(m, "hello from nc") {
		t.Errorf("bob's INBOX:\n%s", m)
	}
	// -C sends CR LF; -z only tests the port.
	if _, e, st := execIn(t, sh, "nc -C localhost "+smtp, "QUIT\n"); st != 0 {
		t.Errorf("nc -C: %d %q", st, e)
	}
	if _, e, st := execIn(t, sh, "nc -z 127.0.0.1 "+smtp, ""); st != 0 || !strings.Contains(e, "succeeded") {
		t.Errorf("nc -z: %d %q", st, e)
	}
	// Outside shell.allow_connect (default: labd's own sockets).
	for _, line := range []string{"nc 192.0.2.1 25", "nc 127.0.0.1 1", "nc -z 10.1.2.3 80", "curl http://192.0.2.1/"} {
		if _, e, st := execIn(t, sh, line, ""); st == 0 || !strings.Contains(e, "not allowed") {
			t.Errorf("%s: status %d, stderr %q: want a refusal", line, st, e)
		}
	}
	// curl -v shows the request and the response heads.
	o, e, st = execIn(t, sh, "curl -v http://127.0.0.1:"+httpPort+"/echo", "")
	if st != 0 || !strings.Contains(e, "> GET /echo HTTP/1.1") || !strings.Contains(e, "< HTTP/1.1 200 OK") || !strings.Contains(o, "labd echo") {
		t.Errorf("curl -v: %d\nstdout %q\nstderr %q", st, o, e)
	}
	if o, _, st := execIn(t, sh, "curl -sI http://localhost:"+httpPort+"/", ""); st != 0 || !strings.HasPrefix(o, "HTTP/1.1 ") {
		t.Errorf("curl -I: %d %q", st, o)
	}
	// openssl s_client -starttls smtp shows the certificate, then relays.
	o, e, st = execIn(t, sh, "openssl s_client -connect 127.0.0.1:"+smtp+" -starttls smtp -crlf", "EHLO x\nQUIT\n")
	if st != 0 || !strings.Contains(o, "BEGIN CERTIFICATE") || !strings.Contains(o, "Verify return code: 0 (ok)") || !strings.Contains(o, "221") {
		t.Errorf("openssl s_client: %d\nstdout %q\nstderr %q", st, o, e)
	}
	// The connections were the user's sessions.
	found := false
	for _, in := range d.Deps.Sessions.List() {
		if in.Proto == "shell-nc" && in.User == "alice" {
			found = true
		}
	}
	if !found {
		t.Error("nc's connection is not in the session registry as alice's")
	}
	// telnet to labd's own Telnet: negotiates, logs in, runs a command.
	telnet := labtest.Port(t, d.Addr(t, "telnet", "tcp"))
	o, e, st = execIn(t, sh, "telnet 127.0.0.1 "+telnet, "bob\nbob\nwhoami\nexit\n")
	if st != 0 || !strings.Contains(o, "Connected to 127.0.0.1.") || !strings.Contains(o, "bob@labd:~$") || strings.Contains(o, "\xff") {
		t.Errorf("telnet: %d\nstdout %q\nstderr %q", st, o, e)
	}
	// ftp: login, put, ls, get, passive then active.
	ftpPort := labtest.Port(t, d.Addr(t, "ftp", "tcp"))
	if _, _, st := execIn(t, sh, "echo 'via ftp' > f.txt", ""); st != 0 {
		t.Fatal("echo")
	}
	for _, opt := range []string{"", "-A "} {
		o, e, st = execIn(t, sh, "ftp "+opt+"127.0.0.1 "+ftpPort, "alice\nalice\nput f.txt up.txt\nls\nget up.txt down.txt\nbye\n")
		if st != 0 || !strings.Contains(o, "230") || !strings.Contains(o, "up.txt") || !strings.Contains(o, "221") {
			t.Errorf("ftp %s: %d\nstdout %q\nstderr %q", opt, st, o, e)
		}
		if o, _, _ := execIn(t, sh, "cat down.txt && rm down.txt up.txt", ""); o != "via ftp\n" {
			t.Errorf("ftp %s: down.txt = %q", opt, o)
		}
	}
	if o, _, _ := execIn(t, sh, "ping 127.0.0.1", ""); o != "" {
		t.Errorf("ping wrote %q", o)
	}
}

// TestEditorOverSSH: keystrokes on an SSH PTY (x/crypto client) write
// public_html/index.html with nano, and HTTP serves it at /~alice/.
func TestEditorOverSSH(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	cfg := &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{gossh.Password("alice")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	c, err := gossh.Dial("tcp", d.Addr(t, "ssh", "tcp"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.StdinPipe()
	out := &labtest.SyncBuffer{}
	s.Stdout = out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("never saw %q in:\n%q", want, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("alice@labd:~$ ")
	io.WriteString(in, "nano public_html/index.html\r")
	waitFor("File: public_html/index.html")
	io.WriteString(in, "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b") // ^K: empty the default page
	io.WriteString(in, "<h1>Made with nano</h1>\r")
	io.WriteString(in, "\x0f")
	waitFor("File Name to Write")
	io.WriteString(in, "\r")
	waitFor("Wrote")
	io.WriteString(in, "\x18")
	// exit only once the shell is back: typed while the editor still runs,
	// the editor would take it and the session would never end.
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(out.String(), "alice@labd:~$ ") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt after leaving the editor:\n%q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	io.WriteString(in, "exit\r")
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the session did not end after exit:\n%q", out.String())
	}
	resp, err := http.Get("http://" + d.Addr(t, "http", "tcp") + "/~alice/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>Made with nano</h1>") {
		t.Errorf("GET /~alice/: %s\n%s", resp.Status, body)
	}
}

// TestPsKill: ps lists the user's sessions of any protocol; kill ends one.
func TestPsKill(t *testing.T) {
	sh, d := daemonShell(t)
	cfg := &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{gossh.Password("alice")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	c, err := gossh.Dial("tcp", d.Addr(t, "ssh", "tcp"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var id uint64
	deadline := time.Now().Add(10 * time.Second)
	for id == 0 && time.Now().Before(deadline) {
		for _, in := range d.Deps.Sessions.Live() {
			if in.Proto == "ssh" && in.User == "alice" {
				id = in.ID
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if id == 0 {
		t.Fatal("no ssh session of alice in the registry")
	}
	ids := strconv.FormatUint(id, 10)
	if o, _, _ := execIn(t, sh, "ps", ""); !strings.Contains(o, ids) || !strings.Contains(o, " ssh ") {
		t.Errorf("ps: %q lacks session %s", o, ids)
	}
	// Bob cannot kill it.
	bob, err := shell.New(shell.Env{Deps: d.Deps, User: "bob", Proto: "ssh"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	var o2, e2 bytes.Buffer
	if st := bob.Exec(context.Background(), "kill "+ids, &o2, &e2); st == 0 {
		t.Errorf("bob killed alice's session: %q", e2.String())
	}
	if _, e, st := execIn(t, sh, "kill "+ids, ""); st != 0 {
		t.Fatalf("kill %s: %d %q", ids, st, e)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("the killed SSH connection is still open")
	}
}

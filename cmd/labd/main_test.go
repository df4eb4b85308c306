package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"labd/config"
	"labd/internal/labtest"
)

// These tests drive the real binary, built once, as an instructor would:
// serve, check, user, sessions, signals.

var labdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labd-bin")
	if err != nil {
		panic(err)
	}
	labdBin = filepath.Join(dir, "labd")
	if out, err := exec.Command("go", "build", "-o", labdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build labd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	labtest.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeConfig writes the lab profile with every port 0 (so tests run side
// by side) as a YAML file, after mutate.
func writeConfig(t testing.TB, mutate func(*config.Config)) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	c := config.LabEphemeral(filepath.Join(dir, "data"))
	c.Server.GracePeriod = config.Duration(5 * time.Second)
	// The daemon's own output (the listener table the tests read) in
	// English whatever the machine's locale; tests of French set it.
	c.Server.Language = "en"
	if mutate != nil {
		mutate(c)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "labd.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, c
}

type proc struct {
	cmd    *exec.Cmd
	stderr *labtest.SyncBuffer
	addrs  map[string]string // "service/network" -> address
	done   chan error
}

var tableLine = regexp.MustCompile(`^(\S+)(?: \(TLS\))?\s+(tcp|udp)\s+(\S+)\s+listening$`)

// serve starts `labd serve --config path` and waits for the listener
// table.
func serve(t testing.TB, path string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(labdBin, "serve", "--config", path), stderr: &labtest.SyncBuffer{}, addrs: map[string]string{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	out, _ := p.cmd.StdoutPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	sc := bufio.NewScanner(out)
	ready := make(chan error, 1)
	go func() {
		for sc.Scan() {
			line := sc.Text()
			if m := tableLine.FindStringSubmatch(line); m != nil {
				key := m[1] + "/" + m[2]
				if _, ok := p.addrs[key]; !ok {
					p.addrs[key] = m[3]
				}
				if h, _, err := net.SplitHostPort(m[3]); err == nil {
					p.addrs[key+"@"+h] = m[3] // "http/tcp@::1": each address family
				}
			}
			if strings.HasPrefix(line, "labd ready:") {
				ready <- nil
				io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("stdout closed before labd was ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v; stderr:\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("labd not ready after 30s; stderr:\n%s", p.stderr.String())
	}
	return p
}

func (p *proc) addr(t testing.TB, key string) string {
	t.Helper()
	a, ok := p.addrs[key]
	if !ok {
		t.Fatalf("no %s in the listener table: %v", key, p.addrs)
	}
	return a
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("labd did not exit; stderr:\n%s", p.stderr.String())
		return -1
	}
}

// labd runs a one-shot subcommand and returns its output and exit code.
func labd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return out.String(), code
}

func TestServePrintsListenerTable(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	for _, key := range []string{"http/tcp", "https/tcp"} {
		a := p.addr(t, key)
		if !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
			t.Errorf("%s: table shows %q, want the bound 127.0.0.1 port", key, a)
		}
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Errorf("%s listed but not connectable: %v", key, err)
			continue
		}
		c.Close()
	}
}

// SIGTERM: labd stops accepting and exits 0 once its sessions are done.
// Connections with nothing under way do not make it wait for the grace
// period (a minute here): an idle HTTP keep-alive connection is closed,
// an IMAP connection in IDLE (as Thunderbird keeps it) gets BYE, and an
// idle FTP control connection (as FileZilla keeps it) gets 421.
func TestSigtermStopsAcceptingAndExitsCleanly(t *testing.T) {
	path, _ := writeConfig(t, func(c *config.Config) { c.Server.GracePeriod = config.Duration(time.Minute) })
	p := serve(t, path)
	c, err := net.Dial("tcp", p.addr(t, "http/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A keep-alive connection that finished one request.
	io.WriteString(c, "GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("got %q", line)
	}
	imap := dialLines(t, p.addr(t, "imap/tcp"))
	imap.expect("* OK")
	for _, cmd := range []string{"a LOGIN alice alice", "b SELECT INBOX"} {
		io.WriteString(imap.c, cmd+"\r\n")
		imap.expect(cmd[:1] + " OK")
	}
	io.WriteString(imap.c, "i IDLE\r\n")
	imap.expect("+ ")
	ftp := dialLines(t, p.addr(t, "ftp/tcp"))
	ftp.expect("220 ")
	for _, cmd := range []string{"USER alice", "PASS alice"} {
		io.WriteString(ftp.c, cmd+"\r\n")
		ftp.expect(map[bool]string{true: "331 ", false: "230 "}[cmd[0] == 'U'])
	}

	began := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("the stop took %v with only idle connections open (grace period: a minute)", d)
	}
	log := p.stderr.String()
	if !strings.Contains(log, "stopping: no new connections") || !strings.Contains(log, "labd stopped") {
		t.Errorf("no clean two-phase stop in the log:\n%s", log)
	}
	// The idle keep-alive connection was closed by the server, not left
	// hanging.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("idle connection not closed by labd: %v", err)
	}
	imap.expect("* BYE [UNAVAILABLE]")
	ftp.expect("421 ")
}

// lines is a client connection read line by line.
type lines struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialLines(t *testing.T, addr string) *lines {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &lines{t, c, bufio.NewReader(c)}
}

// expect reads lines until one starts with prefix (a tagged or final
// reply), failing at the end of the stream or after 10 s.
func (l *lines) expect(prefix string) {
	l.t.Helper()
	l.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := l.br.ReadString('\n')
		if strings.HasPrefix(line, prefix) {
			return
		}
		if err != nil {
			l.t.Fatalf("waiting for %q: %q %v", prefix, line, err)
		}
	}
}

func TestUserCLIWhileDaemonRuns(t *testing.T) {
	path, c := writeConfig(t, nil)
	p := serve(t, path)
	web := "http://" + p.addr(t, "http/tcp")

	out, code := labd(t, "user", "add", "carol", "--password", "s3cret", "--config", path)
	if code != 0 || !strings.Contains(out, "created user carol") {
		t.Fatalf("user add: %d %s", code, out)
	}
	// The running daemon sees the new user at once (same database).
	if got := basicAuth(t, web, "carol", "s3cret"); got != 200 {
		t.Errorf("new user's login over HTTP: status %d", got)
	}
	if _, err := os.Stat(filepath.Join(c.Server.DataDir, "home", "carol", "public_html")); err != nil {
		t.Errorf("home not created: %v", err)
	}
	out, code = labd(t, "user", "add", "carol", "--config", path)
	if code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("duplicate user: %d %s", code, out)
	}
	out, code = labd(t, "user", "passwd", "nobody", "--password", "x", "--config", path)
	if code != 1 || !strings.Contains(out, "no such user") {
		t.Errorf("passwd of missing user: %d %s", code, out)
	}
	out, _ = labd(t, "user", "passwd", "carol", "--config", path)
	m := regexp.MustCompile(`new password of carol: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("generated password not printed: %s", out)
	}
	if basicAuth(t, web, "carol", "s3cret") != 401 || basicAuth(t, web, "carol", m[1]) != 200 {
		t.Error("password change not effective")
	}
	out, _ = labd(t, "user", "list", "--config", path)
	for _, u := range []string{"alice", "bob", "carol"} {
		if !strings.Contains(out, u) {
			t.Errorf("user list lacks %s:\n%s", u, out)
		}
	}
	keyFile := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(keyFile, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHFq1rWUEs5pUfSg1pXz7DVTHjqCN6vFqGVtlhC7yXDQ carol@pc\n"), 0o644)
	if out, code = labd(t, "user", "key", "add", "carol", keyFile, "--config", path); code != 0 {
		t.Errorf("key add: %s", out)
	}
	if out, code = labd(t, "user", "del", "carol", "--config", path); code != 0 {
		t.Errorf("user del: %s", out)
	}
	if basicAuth(t, web, "carol", m[1]) != 401 {
		t.Error("deleted user can still log in")
	}
	// SIGHUP reloads and says what it reloaded.
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "reloaded") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), `msg=reloaded what="users (2`) {
		t.Errorf("SIGHUP: no reload logged:\n%s", p.stderr.String())
	}
	out, code = labd(t, "reload", "--config", path)
	if code != 0 || !strings.Contains(out, "reloaded: users") {
		t.Errorf("labd reload: %d %s", code, out)
	}
}

func basicAuth(t *testing.T, base, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/auth", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRosterImport(t *testing.T) {
	path, _ := writeConfig(t, nil)
	dir := t.TempDir()
	good := filepath.Join(dir, "roster.csv")
	os.WriteFile(good, []byte("name,password,admin\ndave,davepw,no\nerin,,\nTeacher,,yes\n"), 0o644)
	out, code := labd(t, "user", "import", good, "--config", path)
	if code != 0 {
		t.Fatalf("import: %d %s", code, out)
	}
	if !strings.Contains(out, "dave") || !strings.Contains(out, "davepw") || !strings.Contains(out, "imported 3 users") {
		t.Errorf("credentials sheet:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^erin\s+(\S+)$`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 8 {
		t.Fatalf("no generated password for erin:\n%s", out)
	}
	list, _ := labd(t, "user", "list", "--config", path)
	if !regexp.MustCompile(`(?m)^teacher\s+yes`).MatchString(list) {
		t.Errorf("teacher should be admin:\n%s", list)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("frank,pw\n\"unclosed,pw\ngina,pw,maybe\n"), 0o644)
	out, code = labd(t, "user", "import", bad, "--config", path)
	if code != 1 || !strings.Contains(out, "bad CSV line 2") || !strings.Contains(out, "nothing imported") {
		t.Errorf("bad roster: %d %s", code, out)
	}
	bad2 := filepath.Join(dir, "bad2.csv")
	os.WriteFile(bad2, []byte("frank,pw\ndave,pw\nBad Name,pw\n"), 0o644)
	out, _ = labd(t, "user", "import", bad2, "--config", path)
	if !strings.Contains(out, "line 2: user dave already exists") || !strings.Contains(out, "bad CSV line 3") {
		t.Errorf("roster with existing and invalid names: %s", out)
	}
	if list, _ := labd(t, "user", "list", "--config", path); strings.Contains(list, "frank") {
		t.Error("a roster with errors must import nobody")
	}
}

func TestCheck(t *testing.T) {
	out, code := labd(t, "check", "--config", "../../testdata/config/bad-keys.yaml")
	if code != 1 || !strings.Contains(out, `bad-keys.yaml:6: unknown key "smtp.max_mesage_bytes"`) {
		t.Errorf("check of a bad file: %d %s", code, out)
	}
	// A port held by another process is named with its owner.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path, _ := writeConfig(t, func(c *config.Config) { c.HTTP.Listen = []string{ln.Addr().String()} })
	out, code = labd(t, "check", "--config", path)
	want := fmt.Sprintf("already in use by %s", "")
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("check with a taken port: %d\n%s", code, out)
	}
	path, _ = writeConfig(t, nil)
	if out, code = labd(t, "check", "--config", path); code != 0 || !strings.Contains(out, "labd serve can start") {
		t.Errorf("check of a good config: %d %s", code, out)
	}
}

func TestBindFailureStopsStartupAndReleasesPorts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freeAddr := free.Addr().String()
	free.Close()
	path, _ := writeConfig(t, func(c *config.Config) {
		c.HTTP.Listen = []string{freeAddr}
		c.HTTP.TLSListen = []string{ln.Addr().String()}
	})
	out, code := labd(t, "serve", "--config", path)
	if code != 1 || !strings.Contains(out, "already in use") || !strings.Contains(out, "https") {
		t.Errorf("serve with a taken port: %d\n%s", code, out)
	}
	// What was bound before the failure was released.
	again, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Errorf("port bound before the failure is still held: %v", err)
	} else {
		again.Close()
	}
}

func TestSessionsCommand(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	c, err := net.Dial("tcp", p.addr(t, "http/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /status/404 HTTP/1.1\r\nHost: x\r\n\r\n")
	bufio.NewReader(c).ReadString('\n')
	out, code := labd(t, "sessions", "--config", path)
	// The student's 4-tuple, as ss -tan shows it, plus the protocol.
	if code != 0 || !regexp.MustCompile(`http\s+ESTAB\s+`+regexp.QuoteMeta(p.addr(t, "http/tcp"))+`\s+`+regexp.QuoteMeta(c.LocalAddr().String())).MatchString(out) {
		t.Fatalf("sessions: %d\n%s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	out, code = labd(t, "sessions", "--transcript", id, "--unmask", "--config", path)
	if code != 0 || !strings.Contains(out, `C>  GET /status/404 HTTP/1.1\r\n`) || !strings.Contains(out, `S<  HTTP/1.1 404 Not Found\r\n`) {
		t.Errorf("transcript: %d\n%s", code, out)
	}
}

func TestRestartAfterKill9(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	if out, code := labd(t, "user", "add", "hana", "--password", "pw", "--config", path); code != 0 {
		t.Fatal(out)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	// A stale control socket and an unclean database must not stop the
	// next start.
	p2 := serve(t, path)
	if got := basicAuth(t, "http://"+p2.addr(t, "http/tcp"), "hana", "pw"); got != 200 {
		t.Errorf("user created before kill -9: login status %d", got)
	}
	if out, code := labd(t, "sessions", "--config", path); code != 0 {
		t.Errorf("control socket after restart: %s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"user"}, {"user", "add"}, {"serve", "extra"}} {
		if _, code := labd(t, args...); code != 2 {
			t.Errorf("labd %v: exit %d, want 2", args, code)
		}
	}
	if out, code := labd(t, "version"); code != 0 || !strings.HasPrefix(out, "labd ") {
		t.Errorf("version: %q", out)
	}
}

// labd user without --config: the installed config when there is one,
// else the lab profile's data directory, said out loud.
func TestUserWithoutConfig(t *testing.T) {
	t.Setenv("LABD_CONFIG", "")
	dir := t.TempDir()
	t.Chdir(dir)
	old := systemConfig
	t.Cleanup(func() { systemConfig = old })
	systemConfig = filepath.Join(dir, "absent.yaml")
	out, code := labd(t, "user", "list")
	if code != 0 || !strings.Contains(out, "using the lab profile's data directory "+filepath.Join(dir, "labd-data")) {
		t.Errorf("no config: %d %s", code, out)
	}
	path, c := writeConfig(t, nil)
	systemConfig = path
	out, code = labd(t, "user", "add", "dora", "--password", "x")
	if code != 0 || !strings.Contains(out, "using "+path) {
		t.Errorf("system config: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(c.Server.DataDir, "home", "dora")); err != nil {
		t.Errorf("user not created in the system config's data directory: %v", err)
	}
}

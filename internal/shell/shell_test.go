package shell

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"log/slog"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/service"
)

// testDeps is labtest.Deps without importing labtest (which imports every
// service, telnet included, and telnet imports this package).
func testDeps(t testing.TB) service.Deps {
	t.Helper()
	cfg := config.LabEphemeral(t.TempDir())
	d, err := daemon.Prepare(cfg, slog.New(slog.DiscardHandler), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The exercise tracker writes progress.json into the data
		// directory: done before the temporary directory goes.
		if d.Exercises != nil {
			d.Exercises.Close()
		}
		d.Store.Close()
	})
	return d
}

func newShell(t *testing.T) (*Shell, service.Deps) {
	t.Helper()
	deps := testDeps(t)
	sh, err := New(Env{Deps: deps, User: "alice", Proto: "ssh", Remote: "127.0.0.1:40000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return sh, deps
}

func run(t *testing.T, sh *Shell, line string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	st := sh.Exec(context.Background(), line, &o, &e)
	return o.String(), e.String(), st
}

type step struct {
	line   string
	status int
	out    string // substring of stdout ("" = not checked)
	errOut string // substring of stderr
	noOut  string // must not be in stdout
}

func runSteps(t *testing.T, sh *Shell, steps []step) {
	t.Helper()
	for _, s := range steps {
		o, e, st := run(t, sh, s.line)
		if st != s.status {
			t.Errorf("%q: status %d, want %d (stdout %q, stderr %q)", s.line, st, s.status, o, e)
		}
		if s.out != "" && !strings.Contains(o, s.out) {
			t.Errorf("%q: stdout %q lacks %q", s.line, o, s.out)
		}
		if s.errOut != "" && !strings.Contains(e, s.errOut) {
			t.Errorf("%q: stderr %q lacks %q", s.line, e, s.errOut)
		}
		if s.noOut != "" && strings.Contains(o, s.noOut) {
			t.Errorf("%q: stdout %q has %q", s.line, o, s.noOut)
		}
	}
}

func TestFileCommands(t *testing.T) {
	sh, deps := newShell(t)
	home := deps.Layout.Home("alice")
	runSteps(t, sh, []step{
		{line: "pwd", out: "/home/alice\n"},
		{line: "echo hello world > a.txt"},
		{line: "cat a.txt", out: "hello world\n"},
		{line: `echo "second  line" >> a.txt`},
		{line: "cat a.txt", out: "hello world\nsecond  line\n"},
		{line: "echo 'single quoted > not a redirect'", out: "single quoted > not a redirect\n"},
		{line: "echo -n x", out: "x"},
		{line: "mkdir d1"},
		{line: "mkdir d1", status: 1, errOut: "File exists"},
		{line: "mkdir -p d2/sub/deeper"},
		{line: "ls", out: "a.txt\nd1/\nd2/\npublic_html/\n"},
		{line: "ls -l", out: "-rw-r--r-- 1 alice    alice          25 "},
		{line: "touch .hidden"},
		{line: "ls", noOut: ".hidden"},
		{line: "ls -a", out: ".hidden"},
		{line: "ls nothere", status: 1, errOut: "No such file or directory"},
		{line: "cd d2/sub"},
		{line: "pwd", out: "/home/alice/d2/sub\n"},
		{line: "cd ..", status: 0},
		{line: "pwd", out: "/home/alice/d2\n"},
		{line: "cd ~"},
		{line: "cd /home/alice/d1"},
		{line: "pwd", out: "/home/alice/d1\n"},
		{line: "cd"},
		{line: "cd a.txt", status: 1, errOut: "Not a directory"},
		{line: "rmdir d2", status: 1, errOut: "Directory not empty"},
		{line: "rmdir d1"},
		{line: "cp a.txt b.txt"},
		{line: "cat b.txt", out: "hello world\n"},
		{line: "cp d2 d3", status: 1, errOut: "-r not specified"},
		{line: "cp -r d2 d3"},
		{line: "ls d3/sub", out: "deeper/"},
		{line: "mv b.txt c.txt"},
		{line: "cat b.txt", status: 1, errOut: "No such file"},
		{line: "mv c.txt d3"},
		{line: "cat d3/c.txt", out: "hello world"},
		{line: "rm d3", status: 1, errOut: "Is a directory"},
		{line: "rm -r d3"},
		{line: "ls", noOut: "d3"},
		{line: "rm a.txt"},
		{line: "rm a.txt", status: 1, errOut: "No such file"},
		{line: "rm -f a.txt"},
		{line: "rm -r .", status: 1, errOut: "refusing"},
		{line: "whoami", out: "alice\n"},
		{line: "id", out: "(alice) gid=100(users)"},
		{line: "hostname", out: "labd\n"},
		{line: "hostname -f", out: "labd.lab.test\n"},
		{line: "date -u", out: "UTC"},
		{line: "uptime", out: "load average:"},
		{line: "clear", out: "\x1b[2J"},
		{line: "frobnicate", status: 127},
		{line: "ls -z", status: 2, errOut: "invalid option"},
		{line: `echo "unterminated`, status: 2, errOut: "without closing quote"},
		{line: "echo x >", status: 2, errOut: "must be followed by a word"},
	})
	if _, err := os.Stat(filepath.Join(home, "d2", "sub", "deeper")); err != nil {
		t.Errorf("mkdir -p did not create the tree on disk: %v", err)
	}
	_, e, _ := run(t, sh, "frobnicate now")
	if e != "frobnicate: command not found (type help for the list of commands)\n" {
		t.Errorf("unknown command: %q", e)
	}
	o, _, _ := run(t, sh, "help")
	for name := range commands {
		if !strings.Contains(o, "\n  "+name) {
			t.Errorf("help does not list %s", name)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(o), "\n") {
		if len(l) > 80 {
			t.Errorf("help line wider than 80 columns: %q", l)
		}
	}
}

func TestEscapesRefused(t *testing.T) {
	sh, deps := newShell(t)
	home := deps.Layout.Home("alice")
	// A symlink in the home pointing outside it (the data dir holds the
	// database), and one to bob's home.
	if err := os.Symlink(deps.Layout.DataDir, filepath.Join(home, "data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../bob", filepath.Join(home, "bobhome")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "mine.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []step{
		{line: "cd ../..", status: 1, errOut: "permission denied"},
		{line: "cd ..", status: 1, errOut: "permission denied"},
		{line: "cd /", status: 1, errOut: "permission denied"},
		{line: "cat ../../labd.db", status: 1, errOut: "permission denied"},
		{line: "cat /etc/passwd", status: 1, errOut: "permission denied"},
		{line: "ls /home/bob", status: 1, errOut: "permission denied"},
		{line: "ls ..", status: 1, errOut: "permission denied"},
		{line: "cat data/labd.db", status: 1},
		{line: "ls data", status: 1},
		{line: "cd data", status: 1},
		{line: "cat bobhome/public_html/index.html", status: 1},
		{line: "echo evil > ../evil.txt", status: 1, errOut: "permission denied"},
		{line: "echo evil > data/evil.txt", status: 1},
		{line: "mv mine.txt ..", status: 1, errOut: "permission denied"},
		{line: "mv mine.txt ../x", status: 1, errOut: "permission denied"},
		{line: "mv mine.txt data/", status: 1},
		{line: "cp mine.txt ../../copy", status: 1, errOut: "permission denied"},
		{line: "cp mine.txt data/copy", status: 1},
		{line: "mkdir ../x", status: 1},
		{line: "touch data/x", status: 1},
		{line: "rm -r ..", status: 1},
		{line: "rm -r data/home", status: 1},
	}
	runSteps(t, sh, steps)
	for _, p := range []string{filepath.Join(deps.Layout.HomeRoot(), "evil.txt"), filepath.Join(deps.Layout.DataDir, "evil.txt"),
		filepath.Join(deps.Layout.HomeRoot(), "x"), filepath.Join(deps.Layout.DataDir, "copy"), filepath.Join(deps.Layout.DataDir, "x"), filepath.Join(deps.Layout.DataDir, "mine.txt")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created outside the home", p)
		}
	}
	if _, err := os.Stat(deps.Layout.Database()); err != nil {
		t.Errorf("the database is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(deps.Layout.Home("bob"), "public_html", "index.html")); err != nil {
		t.Errorf("bob's home was touched: %v", err)
	}
	// rm of the symlink itself removes the link, not its target.
	runSteps(t, sh, []step{{line: "rm data"}})
	if _, err := os.Stat(deps.Layout.Database()); err != nil {
		t.Errorf("removing the link removed its target: %v", err)
	}
}

func TestMail(t *testing.T) {
	sh, deps := newShell(t)
	ctx := context.Background()
	raw := "From: Bob <bob@lab.test>\r\nTo: alice@lab.test\r\nSubject: =?utf-8?q?Caf=C3=A9_du_lab?=\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nRendez-vous au caf=C3=A9 =C3=A0 10h.\r\n"
	if err := deps.Store.Deliver(ctx, []string{"alice"}, []byte(raw), time.Now()); err != nil {
		t.Fatal(err)
	}
	runSteps(t, sh, []step{
		{line: "mail", out: "bob@lab.test"},
		{line: "mail", out: "Café du lab"},
		{line: "mail 1", out: "Subject: Café du lab"},
		{line: "mail 1", out: "Rendez-vous au café à 10h."},
		{line: "mail 2", status: 1, errOut: "no message 2"},
		{line: "mail send nobody hi there", status: 1, errOut: "no such user"},
		{line: "mail send bob@example.com hi there", status: 1, errOut: "only sends to local users"},
		{line: `mail send bob "Hello Bob" "see you at the lab"`, out: "delivered to bob@lab.test"},
	})
	// Reading marked it \Seen.
	mb, _ := deps.Store.Mailbox(ctx, "alice", "INBOX")
	if mb.Unseen != 0 {
		t.Errorf("mail 1 did not mark the message seen (unseen=%d)", mb.Unseen)
	}
	body := bobLastMessage(t, deps)
	for _, want := range []string{"Received: from ssh-shell ([127.0.0.1])", "with LOCAL id", "(authenticated as alice)", "From: alice@lab.test", "Subject: Hello Bob", "see you at the lab"} {
		if !strings.Contains(body, want) {
			t.Errorf("bob's message lacks %q:\n%s", want, body)
		}
	}
}

func bobLastMessage(t *testing.T, deps service.Deps) string {
	t.Helper()
	ctx := context.Background()
	mb, err := deps.Store.Mailbox(ctx, "bob", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := deps.Store.Messages(ctx, mb.ID)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("bob's INBOX is empty (%v)", err)
	}
	b, err := deps.Store.Body(ctx, mb.ID, msgs[len(msgs)-1].UID)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startDNS runs a tiny DNS server for lab.test and registers it as labd's
// dns endpoint.
func startDNS(t *testing.T, deps service.Deps) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		add := func(s string) {
			rr, err := dns.NewRR(s)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		switch {
		case q.Name == "lab.test." && q.Qtype == dns.TypeA:
			add("lab.test. 300 IN A 127.0.0.1")
		case q.Name == "lab.test." && q.Qtype == dns.TypeMX:
			add("lab.test. 300 IN MX 10 mail.lab.test.")
		case q.Name == "www.lab.test." && q.Qtype == dns.TypeA:
			add("www.lab.test. 300 IN CNAME lab.test.")
			add("lab.test. 300 IN A 127.0.0.1")
		case q.Name == "1.0.0.127.in-addr.arpa." && q.Qtype == dns.TypePTR:
			add("1.0.0.127.in-addr.arpa. 300 IN PTR labd.lab.test.")
		case strings.HasSuffix(q.Name, "lab.test."):
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	deps.Endpoints.Add(service.Endpoint{Service: "dns", Network: "udp", Addr: pc.LocalAddr().String(), State: "listening"})
}

func TestHostAndDig(t *testing.T) {
	sh, deps := newShell(t)
	runSteps(t, sh, []step{{line: "host lab.test", status: 1, errOut: "DNS service is not running"}})
	startDNS(t, deps)
	runSteps(t, sh, []step{
		{line: "host lab.test", out: "lab.test has address 127.0.0.1\n"},
		{line: "host lab.test", out: "lab.test mail is handled by 10 mail.lab.test.\n"},
		{line: "host -t MX lab.test", out: "lab.test mail is handled by 10 mail.lab.test.\n", noOut: "has address"},
		{line: "host www.lab.test", out: "www.lab.test is an alias for lab.test."},
		{line: "host 127.0.0.1", out: "1.0.0.127.in-addr.arpa. domain name pointer labd.lab.test."},
		{line: "host nowhere.example", status: 1, out: "Host nowhere.example not found: 3(NXDOMAIN)"},
		{line: "host -t TXT lab.test", out: "lab.test has no TXT record"},
		{line: "dig lab.test MX", out: ";; ANSWER SECTION:\nlab.test.\t300\tIN\tMX\t10 mail.lab.test."},
		{line: "dig lab.test", out: ";; ->>HEADER<<- opcode: QUERY, status: NOERROR"},
		{line: "dig MX lab.test +short", out: "10 mail.lab.test.\n"},
		{line: "dig nowhere.example", out: "status: NXDOMAIN"},
		{line: "dig lab.test", out: ";; QUESTION SECTION:\n;lab.test.\tIN\t A"},
		{line: "dig lab.test", out: ";; SERVER: 127.0.0.1#"},
		{line: "dig +short lab.test", out: "127.0.0.1\n"},
		{line: "dig -x 127.0.0.1 +short", out: "labd.lab.test.\n"},
		{line: "dig +tcp lab.test", status: 9},
		{line: "dig @8.8.8.8 lab.test", status: 1, errOut: "only labd's own DNS"},
	})
}

func TestSSAndWho(t *testing.T) {
	sh, deps := newShell(t)
	deps.Endpoints.Add(service.Endpoint{Service: "telnet", Network: "tcp", Addr: "127.0.0.1:10023", State: "listening"},
		service.Endpoint{Service: "dns", Network: "udp", Addr: "127.0.0.1:10053", State: "listening"})
	s1 := deps.Sessions.Open("telnet", "tcp", "127.0.0.1:10023", "127.0.0.1:51234")
	s1.SetUser("bob")
	s2 := deps.Sessions.Open("smtp", "tcp", "127.0.0.1:10025", "127.0.0.1:51999")
	t.Cleanup(func() { s1.Close("ok"); s2.Close("ok") })
	runSteps(t, sh, []step{
		{line: "ss", out: "tcp    ESTAB   0      0      127.0.0.1:10023        127.0.0.1:51234        telnet user=bob"},
		{line: "ss", out: "127.0.0.1:51999", noOut: "LISTEN"},
		{line: "ss -l", out: "tcp    LISTEN  0      0      127.0.0.1:10023        0.0.0.0:*              telnet", noOut: "ESTAB"},
		{line: "ss -lu", out: "udp    UNCONN", noOut: "tcp "},
		{line: "ss -tan", out: "LISTEN"},
		{line: "ss -tan", out: "ESTAB"},
		{line: "netstat -an", out: "ESTABLISHED"},
		{line: "netstat -tln", out: "LISTEN", noOut: "ESTABLISHED"},
		{line: "who", out: "bob        telnet "},
		{line: "who", out: "(127.0.0.1:51234)", noOut: "smtp"},
	})
}

// pipeTerm is the user's side of an in-memory terminal.
type pipeTerm struct {
	c    net.Conn
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func newPipeTerm(t *testing.T, sh *Shell, resize chan WindowSize) (*pipeTerm, chan error) {
	return newPipeTermSize(t, sh, 80, 24, resize)
}

func newPipeTermSize(t *testing.T, sh *Shell, width, height int, resize chan WindowSize) (*pipeTerm, chan error) {
	a, b := net.Pipe()
	p := &pipeTerm{c: a, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := a.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	errc := make(chan error, 1)
	go func() {
		errc <- sh.Interactive(context.Background(), b, width, height, resize)
		b.Close()
	}()
	t.Cleanup(func() { a.Close() })
	return p, errc
}

func (p *pipeTerm) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output holds s count times.
func (p *pipeTerm) waitFor(t *testing.T, s string, count int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(p.output(), s) >= count {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("output never held %q %d times:\n%q", s, count, p.output())
}

func (p *pipeTerm) typeIn(t *testing.T, s string) {
	t.Helper()
	if _, err := p.c.Write([]byte(s)); err != nil {
		t.Fatalf("type %q: %v", s, err)
	}
}

func TestInteractive(t *testing.T) {
	sh, deps := newShell(t)
	resize := make(chan WindowSize, 1)
	p, errc := newPipeTerm(t, sh, resize)
	prompt := "alice@labd:~$ "
	p.waitFor(t, "Welcome to the labd lab shell", 1)
	p.waitFor(t, prompt, 1)
	resize <- WindowSize{Width: 120, Height: 40}
	p.typeIn(t, "echo first\r")
	p.waitFor(t, "first\r\n", 2) // the echo of the line, then its output
	p.waitFor(t, prompt, 2)
	// Up arrow recalls "echo first"; Enter runs it again.
	p.typeIn(t, "\x1b[A")
	p.typeIn(t, "\r")
	p.waitFor(t, "first\r\n", 4)
	p.waitFor(t, prompt, 3)
	// Ctrl-C abandons a line.
	p.typeIn(t, "echo never")
	p.typeIn(t, "\x03")
	p.waitFor(t, "^C\r\n", 1)
	p.waitFor(t, prompt, 4)
	// Backspace and left arrow edit the line: "pwx" -> "pw" -> "pwd".
	p.typeIn(t, "pwx\x7fd\r")
	p.waitFor(t, "/home/alice\r\n", 1)
	p.waitFor(t, prompt, 5)
	p.typeIn(t, "mkdir sub\r")
	p.waitFor(t, prompt, 6)
	p.typeIn(t, "cd sub\r")
	p.waitFor(t, "alice@labd:~/sub$ ", 1)
	p.typeIn(t, "history\r")
	p.waitFor(t, "    5  history\r\n", 1)
	if out := p.output(); strings.Contains(out, "echo never\r\n") || strings.Contains(out, "  echo never") {
		t.Errorf("the Ctrl-C'd line ran or went into history:\n%q", out)
	}
	if !strings.Contains(p.output(), "    1  echo first\r\n    2  pwd") {
		t.Errorf("history is wrong:\n%q", p.output())
	}
	// mail send reads the body from the terminal until ".".
	p.typeIn(t, "mail send bob Interactive\r")
	p.waitFor(t, `end it with a line holding only "."`, 1)
	p.typeIn(t, "line one\r")
	p.typeIn(t, "line two\r")
	p.typeIn(t, ".\r")
	p.waitFor(t, "Mail delivered to bob@lab.test.", 1)
	if b := bobLastMessage(t, deps); !strings.Contains(b, "Subject: Interactive") || !strings.Contains(b, "line one\r\nline two\r\n") {
		t.Errorf("interactive mail body:\n%s", b)
	}
	// The unknown command hint goes to the terminal.
	p.typeIn(t, "nope\r")
	p.waitFor(t, "nope: command not found (type help for the list of commands)\r\n", 1)
	// Ctrl-D on an empty line logs out.
	p.typeIn(t, "\x04")
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Interactive: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-D did not log out")
	}
	<-p.done
	if !strings.HasSuffix(p.output(), "logout\r\n") {
		t.Errorf("no logout at the end: %q", p.output())
	}
}

func TestInteractiveExitAndInvalidUTF8(t *testing.T) {
	sh, _ := newShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	p.waitFor(t, "$ ", 1)
	// A byte that is not UTF-8 must not freeze the line editor.
	p.typeIn(t, "echo a\xffb\r")
	p.waitFor(t, "a?b\r\n", 2)
	// UTF-8 passes, even split between two writes.
	p.typeIn(t, "echo caf\xc3")
	p.typeIn(t, "\xa9\r")
	p.waitFor(t, "café\r\n", 2)
	p.typeIn(t, "exit\r")
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Interactive: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit did not end the shell")
	}
}

func TestLineMode(t *testing.T) {
	deps := testDeps(t)
	sh, err := New(Env{Deps: deps, User: "bob", Proto: "telnet", LineMode: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	in := strings.NewReader("whoami\r\npwd\nbad\r\x00exit\n")
	var out bytes.Buffer
	if err := sh.Interactive(context.Background(), struct {
		io.Reader
		io.Writer
	}{in, &out}, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	o := out.String()
	for _, want := range []string{"bob@labd:~$ bob\r\n", "/home/bob\r\n", "bad: command not found"} {
		if !strings.Contains(o, want) {
			t.Errorf("line mode output lacks %q:\n%q", want, o)
		}
	}
	if strings.Contains(o, "whoami") {
		t.Errorf("line mode echoed the input:\n%q", o)
	}
}

// BenchmarkExec measures one command once connected (target: well under
// 10 ms).
func BenchmarkExec(b *testing.B) {
	deps := benchDeps(b)
	sh, err := New(Env{Deps: deps, User: "alice", Proto: "ssh"})
	if err != nil {
		b.Fatal(err)
	}
	defer sh.Close()
	for _, line := range []string{"ls -l", "ss -a", "whoami", "ls | grep public | wc -l", "for i in $(seq 1000); do :; done"} {
		b.Run(line, func(b *testing.B) {
			for b.Loop() {
				if st := sh.Exec(context.Background(), line, io.Discard, io.Discard); st != 0 {
					b.Fatalf("status %d", st)
				}
			}
		})
	}
}

func benchDeps(b *testing.B) service.Deps { return testDeps(b) }

// TestResizeAsSessionEnds: window sizes that arrive while the shell exits
// neither crash it nor race with its cleanup (CI caught a nil tty here).
func TestResizeAsSessionEnds(t *testing.T) {
	for range 20 {
		sh, _ := newShell(t)
		resize := make(chan WindowSize)
		p, errc := newPipeTerm(t, sh, resize)
		p.waitFor(t, "alice@labd:~$ ", 1)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case resize <- WindowSize{Width: 100, Height: 30}:
				case <-stop:
					return
				}
			}
		}()
		p.typeIn(t, "exit\r")
		if err := <-errc; err != nil {
			t.Fatalf("exit: %v", err)
		}
		close(stop)
	}
}

// TestTypeAheadEcho: keys typed while a command runs are echoed as a Unix
// tty does, but never inside one line of the command's output.
func TestTypeAheadEcho(t *testing.T) {
	sh, _ := newShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	prompt := "alice@labd:~$ "
	p.waitFor(t, prompt, 1)
	// Everything at once, as ssh -tt < script sends it.
	p.typeIn(t, "echo $HOME $USER one two three\recho second line\rexit\r")
	if err := <-errc; err != nil {
		t.Fatalf("exit: %v", err)
	}
	out := p.output()
	for _, want := range []string{"/home/alice alice one two three\r\n", "second line\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in %q", want, out)
		}
	}
}

func TestFlushWriterHoldsEchoUntilLineEnds(t *testing.T) {
	var b bytes.Buffer
	f := &flushWriter{w: &b}
	f.Echo("a") // nothing pending: echoed at once
	f.Write([]byte("out"))
	f.Echo("x") // output mid-line: held
	f.Write([]byte(" put\n"))
	f.Echo("y")
	f.Write([]byte("partial"))
	f.Echo("z")
	f.Flush()
	if got, want := b.String(), "aout put\nxypartialz"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestFlushWriterBoundsEcho: a student pasting a huge input (or holding
// Ctrl-C, four bytes of echo each) gets the echo sent in 16 KiB writes as
// any output, not gathered whole until the 20 ms timer: at most 16 KiB
// (and the last piece) wait, whether the output stands at a line's start
// or mid-line, where the echo is held.
func TestFlushWriterBoundsEcho(t *testing.T) {
	const bound = 16 << 10
	piece := strings.Repeat("x", 1000)
	for _, tc := range []struct{ name, before string }{
		{"at a line start", ""},
		{"output mid-line", "name? "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			f := &flushWriter{w: &b}
			defer f.Flush()
			f.Write([]byte(tc.before))
			for i := range 200 {
				f.Echo(piece)
				f.mu.Lock()
				pending := len(f.buf) + len(f.held)
				f.mu.Unlock()
				if pending > bound+len(piece) {
					t.Fatalf("after %d KB of echo, %d bytes wait to be sent", i+1, pending)
				}
			}
		})
	}
}

// TestHugeWindowSize: a client may announce any window size (SSH sends
// 32-bit numbers, Telnet NAWS 16-bit ones); the editor draws every row
// of the screen, so 4 billion rows would be a 20 GB redraw that takes
// labd down. The shell keeps sizes within maxCols x maxRows, at the start
// and on every resize, and the editor still works.
func TestHugeWindowSize(t *testing.T) {
	sh, _ := newShell(t)
	resize := make(chan WindowSize)
	p, errc := newPipeTermSize(t, sh, 1<<32-1, 1<<32-1, resize)
	p.waitFor(t, "alice@labd:~$ ", 1)
	size := func() (int, int) {
		tt := sh.tty
		tt.mu.Lock()
		defer tt.mu.Unlock()
		return tt.width, tt.height
	}
	if w, h := size(); w > maxCols || h > maxRows || w <= 0 || h <= 0 {
		t.Fatalf("announced 4294967295x4294967295: the shell uses %dx%d", w, h)
	}
	resize <- WindowSize{Width: 100, Height: 1<<32 - 1}
	resize <- WindowSize{Width: 100, Height: 1<<32 - 1} // the first is applied once this is taken
	if w, h := size(); w != 100 || h > maxRows || h <= 0 {
		t.Fatalf("resized to 100x4294967295: the shell uses %dx%d", w, h)
	}
	p.typeIn(t, "edit notes.txt\r")
	p.waitFor(t, "labd nano", 1)
	// The resize repainted the prompt: count from here.
	prompts := strings.Count(p.output(), "alice@labd:~$ ")
	p.typeIn(t, "\x18") // ^X
	p.waitFor(t, "alice@labd:~$ ", prompts+1)
	p.typeIn(t, "exit\r")
	if err := <-errc; err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// TestInboxPasteLinear: a pasted megabyte waits in the inbox while the
// line editor reads it 256 bytes at a time and the shell puts back what
// follows each line end. Each read and each put-back must cost what it
// moves, not a copy of everything still waiting: that was 0.5 GB of copying
// for a paste of 512 KiB at the prompt.
func TestInboxPasteLinear(t *testing.T) {
	const size = 512 << 10
	for _, tc := range []struct {
		name    string
		putBack int // of each 256-byte read, as the shell after a line end
	}{
		{"reads", 0},
		{"reads and put-backs", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInbox(bytes.NewReader(bytes.Repeat([]byte("ls -l\r"), size/6)))
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				in.mu.Lock()
				done := in.err != nil
				in.mu.Unlock()
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the inbox did not take the paste")
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			buf := make([]byte, 256)
			total := 0
			for {
				n, err := in.Read(buf)
				if err != nil {
					break
				}
				if k := min(tc.putBack, n-1); k > 0 {
					in.unread(append([]byte(nil), buf[n-k:n]...))
					n -= k
				}
				total += n
			}
			runtime.ReadMemStats(&after)
			if total != size/6*6 {
				t.Fatalf("read %d bytes of %d", total, size/6*6)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("reading a %d KiB paste allocated %d MiB", size>>10, alloc>>20)
			}
		})
	}
}

// TestPasteHugeLineAtPrompt: a line of half a megabyte pasted at the
// prompt is cut at maxLine characters, as a Unix tty in canonical mode
// cuts it (MAX_CANON): the line editor works on the whole line at every
// key (x/term turns it into a string for the completion callback), so a
// long line cost the square of its length, about half a minute of CPU for this one.
// The shell answers the next line at once.
func TestPasteHugeLineAtPrompt(t *testing.T) {
	sh, _ := newShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	p.waitFor(t, "alice@labd:~$ ", 1)
	chunk := strings.Repeat("é", 16<<10) // two bytes each: the cut counts characters
	for range 16 {
		p.typeIn(t, chunk)
	}
	p.typeIn(t, "\recho after\r")
	p.waitFor(t, "\r\nafter\r\n", 1)
	out := p.output()
	// The line run is the first maxLine characters.
	if cut := strings.Repeat("é", maxLine); !strings.Contains(out, cut+": command not found") || strings.Contains(out, cut+"é") {
		t.Errorf("the pasted line was not cut at %d characters: %d é in the output", maxLine, strings.Count(out, "é"))
	}
	p.typeIn(t, "exit\r")
	if err := <-errc; err != nil {
		t.Fatalf("exit: %v", err)
	}
}

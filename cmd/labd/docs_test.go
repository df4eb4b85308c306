package main

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"labd/config"
	"labd/internal/labtest"
)

// Every command shown in README.md and docs/*.md runs here against a test
// daemon, or is on testdata/docs-not-run.txt with the reason it cannot run
// in a test. The convention the pages follow (docs/ci.md):
//
//   - ```sh (or ```bash): one command per line, run in order; `#` starts a
//     comment; a "quoted text" in a line's comment must appear in its output.
//   - ```console: a session: "$ command", then what the person types and
//     what the server answers. nc and telnet sessions are replayed over a
//     socket, line by line, and each answer shown is checked by its status
//     (reply code, +OK/-ERR, IMAP tag and status); for another program,
//     the lines after its "prog> " prompt, or after the lab shell's
//     "alice@labd:~$ ", are its input, and the first word of each line it
//     shows must be in its output.
//   - Any other block (indented, untagged, yaml, text) holds no command: a
//     line there that starts with a client's or labd's name fails the test.

// docCmd is one command of a page.
type docCmd struct {
	File    string
	Line    int
	Text    string   // as written, without its trailing comment
	Comment string   // the trailing comment, without "#"
	Console bool     // from a console block
	Session []string // console: the lines after the command
}

func (c docCmd) String() string { return fmt.Sprintf("%s:%d: %s", c.File, c.Line, c.Text) }

// commandPrograms are names that make a line a command: such a line in a
// block not tagged sh or console is a command the test would not see.
var commandPrograms = map[string]bool{
	"labd": true, "curl": true, "dig": true, "host": true, "nc": true, "telnet": true,
	"ssh": true, "sftp": true, "scp": true, "plink": true, "pscp": true, "psftp": true,
	"tftp": true, "atftp": true, "ftp": true, "lftp": true, "swaks": true, "sudo": true,
	"systemctl": true, "journalctl": true, "go": true, "git": true, "bash": true,
	"openssl": true, "wget": true, "kdig": true, "drill": true, "psql": true,
	"sudoedit": true, "apt": true, "apt-get": true, "install": true,
}

// A command in the text (`curl -u bob:bob pop3://127.0.0.1:10110/`) is a
// command too when it names the lab host's address, or is a complete labd
// command: the reader copies it. With a placeholder (HOST, ID...) it is a
// synopsis.
var (
	inlineCode   = regexp.MustCompile("`([^`]+)`")
	concreteHost = regexp.MustCompile(`127\.0\.0\.1|::1|` + labHosts)
)

// concreteLabd says whether an inline labd command is complete (a
// subcommand and at least two arguments, no placeholder such as ID, FILE,
// [--csv] or ...), rather than the name of a command in a sentence.
func concreteLabd(f []string) bool {
	if len(f) < 4 || f[0] != "labd" {
		return false
	}
	for _, w := range f {
		if strings.ContainsAny(w, "[]|…") || strings.Contains(w, "...") || regexp.MustCompile(`^[A-Z][A-Z0-9_.]*$`).MatchString(w) {
			return false
		}
	}
	return true
}

var fenceLine = regexp.MustCompile("^\\s*```\\s*([A-Za-z0-9_-]*)")

// parseDoc returns the commands of one page and the lines that break the
// convention.
func parseDoc(file, text string) (cmds []docCmd, problems []string) {
	lines := strings.Split(text, "\n")
	inFence, tag := false, ""
	prevBlank, inIndented := true, false
	guard := func(i int, line string) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
		if len(f) > 0 && (commandPrograms[f[0]] && (len(f) == 1 || !strings.HasPrefix(f[1], "(")) || strings.Contains(f[0], "=$(")) {
			problems = append(problems, fmt.Sprintf("%s:%d: %q is a command in a block not tagged ```sh or ```console", file, i+1, strings.TrimSpace(line)))
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := fenceLine.FindStringSubmatch(line); m != nil {
			if inFence {
				inFence = false
			} else {
				inFence, tag = true, m[1]
			}
			prevBlank, inIndented = false, false
			continue
		}
		if inFence {
			switch tag {
			case "sh", "bash":
				start := i
				for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
					i++
					line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
				}
				s := strings.TrimSpace(line)
				if s == "" || strings.HasPrefix(s, "#") {
					continue
				}
				cmdText, comment := splitComment(s)
				cmds = append(cmds, docCmd{File: file, Line: start + 1, Text: cmdText, Comment: comment})
			case "console":
				if rest, ok := strings.CutPrefix(line, "$ "); ok {
					cmdText, comment := splitComment(strings.TrimSpace(rest))
					cmds = append(cmds, docCmd{File: file, Line: i + 1, Text: cmdText, Comment: comment, Console: true})
				} else if len(cmds) > 0 && cmds[len(cmds)-1].Console && cmds[len(cmds)-1].File == file {
					cmds[len(cmds)-1].Session = append(cmds[len(cmds)-1].Session, line)
				} else if strings.TrimSpace(line) != "" {
					problems = append(problems, fmt.Sprintf("%s:%d: a console block starts with \"$ command\"", file, i+1))
				}
			default:
				guard(i, line)
			}
			continue
		}
		indented := strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")
		if indented && (prevBlank || inIndented) {
			inIndented = true
			guard(i, line)
		} else if strings.TrimSpace(line) != "" {
			inIndented = false
			for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
				if f := strings.Fields(m[1]); len(f) > 1 && commandPrograms[f[0]] && concreteHost.MatchString(m[1]) || concreteLabd(f) {
					cmds = append(cmds, docCmd{File: file, Line: i + 1, Text: m[1]})
				}
			}
		}
		prevBlank = strings.TrimSpace(line) == ""
	}
	if inFence {
		problems = append(problems, file+": a code block is not closed")
	}
	return cmds, problems
}

// splitComment cuts a shell line at its comment: a # after a blank,
// outside quotes.
func splitComment(s string) (cmd, comment string) {
	var quote rune
	prev := ' '
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t'):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		}
		prev = r
	}
	return strings.TrimSpace(s), ""
}

// docPages are README.md and docs/*.md, README first.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(pages)
	return append([]string{"../../README.md"}, pages...)
}

func docCommands(t *testing.T) []docCmd {
	t.Helper()
	var all []docCmd
	for _, p := range docPages(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cmds, problems := parseDoc(strings.TrimPrefix(p, "../../"), string(b))
		for _, pr := range problems {
			t.Error(pr)
		}
		all = append(all, cmds...)
	}
	return all
}

// notRun reads testdata/docs-not-run.txt: a command line of a sh block
// as the page writes it (without its comment), then one or more indented
// lines that say why it cannot run in a test. Console sessions always run.
func notRun(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/docs-not-run.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	last := ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			if last == "" {
				t.Fatalf("docs-not-run.txt:%d: a reason without a command", i+1)
			}
			m[last] = strings.TrimSpace(m[last] + " " + strings.TrimSpace(line))
		default:
			last = strings.TrimSpace(line)
			if _, dup := m[last]; dup {
				t.Errorf("docs-not-run.txt:%d: %q is listed twice", i+1, last)
			}
			m[last] = ""
		}
	}
	for c, why := range m {
		if why == "" {
			t.Errorf("docs-not-run.txt: %q has no reason", c)
		}
	}
	return m
}

// The pages follow the convention, and the not-run list names only
// commands that the pages show.
func TestDocsCommandsListed(t *testing.T) {
	cmds := docCommands(t)
	skip := notRun(t)
	shown := map[string]bool{}
	for _, c := range cmds {
		shown[c.Text] = shown[c.Text] || !c.Console
	}
	for c := range skip {
		if !shown[c] {
			t.Errorf("docs-not-run.txt lists %q, which no page shows any more: remove it", c)
		}
	}
	// What cannot run must at least name files of this repository that
	// exist (deploy/systemd/labd.service, bench/peers/run.sh...).
	for _, c := range cmds {
		if _, listed := skip[c.Text]; !listed {
			continue
		}
		for _, w := range strings.Fields(c.Text) {
			w = strings.Trim(w, `"'`)
			if !strings.Contains(w, "/") || strings.HasPrefix(w, "/") || strings.ContainsAny(w, "*$=:@") || strings.HasPrefix(w, "./dist") || strings.Contains(w, "...") {
				continue
			}
			if _, err := os.Stat(filepath.Join("../..", w)); err != nil {
				t.Errorf("%s\nnames %s, which this repository does not have", c, w)
			}
		}
	}
	if len(cmds) < 50 {
		t.Errorf("only %d commands found in the docs: is the parser broken?", len(cmds))
	}
}

// labPorts maps the lab profile's ports, as the pages write them, to the
// listener table's keys of a test daemon (which binds ephemeral ports).
var labPorts = map[string]string{
	"10080": "http/tcp", "10443": "https/tcp", "10025": "smtp/tcp", "10587": "submission/tcp",
	"10465": "smtps/tcp", "10110": "pop3/tcp", "10995": "pop3s/tcp", "10143": "imap/tcp",
	"10993": "imaps/tcp", "10053": "dns/udp", "10021": "ftp/tcp", "10069": "tftp/udp",
	"10022": "ssh/tcp", "10023": "telnet/tcp", "19180": "metrics/tcp",
}

// stdPorts maps the standard ports written after a host name.
var stdPorts = map[string]string{
	"80": "http/tcp", "443": "https/tcp", "25": "smtp/tcp", "587": "submission/tcp",
	"465": "smtps/tcp", "110": "pop3/tcp", "995": "pop3s/tcp", "143": "imap/tcp",
	"993": "imaps/tcp", "53": "dns/udp", "21": "ftp/tcp", "69": "tftp/udp",
	"22": "ssh/tcp", "23": "telnet/tcp",
}

// schemePorts maps URL schemes to the listener of their default port.
var schemePorts = map[string]string{
	"http": "http/tcp", "https": "https/tcp", "tftp": "tftp/udp", "ftp": "ftp/tcp",
	"pop3": "pop3/tcp", "pop3s": "pop3s/tcp", "imap": "imap/tcp", "imaps": "imaps/tcp",
	"smtp": "smtp/tcp", "smtps": "smtps/tcp",
}

// docEnv is a test daemon with what the pages assume around it: the
// demo users with mail, a working directory with the files the commands
// name, an SSH client set up for the host names the pages use.
type docEnv struct {
	p       *proc
	config  string
	dataDir string
	dir     string // the commands' working directory
	env     []string
	vars    []string // NAME=... lines of the page so far
	v6      bool     // the command being rewritten connects to ::1
}

// labHosts are the names the pages use for the lab host.
const labHosts = `labhost|labd\.lab\.test|mail\.lab\.test`

var (
	labPort  = regexp.MustCompile(`\b1[09]\d{3}\b`)
	hostPort = regexp.MustCompile(`\b(` + labHosts + `) (\d+)\b`)
	hostURL  = regexp.MustCompile(`\b([a-z0-9]+)://([^/@\s]+@)?(` + labHosts + `)(:\d+)?/`)
)

func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	// The lab profile listens on ::1 too where the host has it, as the
	// pages' IPv6 commands expect.
	hosts := []string{"127.0.0.1"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		hosts = append(hosts, "::1")
	}
	path, c := writeConfig(t, func(c *config.Config) {
		grace := c.Server.GracePeriod
		*c = *config.LabEphemeralOn(c.Server.DataDir, hosts...)
		c.Server.GracePeriod = grace
	})
	e := &docEnv{config: path, dataDir: c.Server.DataDir, dir: t.TempDir()}
	e.p = serve(t, path)
	// Mail for alice (the IMAP session reads and copies message 1) and bob
	// (the POP3 session retrieves and deletes his message 1).
	for _, rcpt := range []string{"alice", "alice", "bob"} {
		s := dialSMTP(t, e.p.addr(t, "smtp/tcp"))
		s.cmd("HELO docs", "250")
		s.cmd("MAIL FROM:<x@y.z>", "250")
		s.cmd("RCPT TO:<"+rcpt+"@lab.test>", "250")
		s.cmd("DATA", "354")
		s.cmd("Subject: TP 1\r\n\r\nhello\r\n.", "250")
		s.cmd("QUIT", "221")
	}
	// Enough sessions for the pages' "session 42".
	for i := 0; i < 45; i++ {
		resp, err := http.Get("http://" + e.p.addr(t, "http/tcp") + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The files the pages' commands send or the teacher put in pub/.
	for name, content := range map[string]string{
		"notes.txt":  "my notes\n",
		"report.txt": "report\n",
		"roster.csv": "dave\nerin,erin-secret\n",
	} {
		writeTestFile(t, filepath.Join(e.dir, name), content)
	}
	writeTestFile(t, filepath.Join(e.dataDir, "pub", "big.iso"), strings.Repeat("x", 3<<20))
	// The lab CA, which the pages have the reader download once.
	resp, err := http.Get("http://" + e.p.addr(t, "http/tcp") + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ca.pem: %s %v", resp.Status, err)
	}
	writeTestFile(t, filepath.Join(e.dir, "ca.pem"), string(ca))
	// SSH: a key that alice and carol accept, and the pages' host names.
	home := t.TempDir()
	_, priv, pub := labtest.SSHKey(t)
	block, err := ssh.MarshalPrivateKey(priv, "docs test")
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(home, ".ssh", "id_ed25519"), string(pem.EncodeToMemory(block)))
	os.Chmod(filepath.Join(home, ".ssh", "id_ed25519"), 0o600)
	writeTestFile(t, filepath.Join(e.dir, "carol.pub"), pub)
	_, _, pub2 := labtest.SSHKey(t) // a student's own key, not yet known to labd
	writeTestFile(t, filepath.Join(e.dir, "id_ed25519.pub"), pub2)
	_, sshPort, _ := net.SplitHostPort(e.p.addr(t, "ssh/tcp"))
	sshConfig := filepath.Join(home, ".ssh", "config")
	writeTestFile(t, sshConfig, fmt.Sprintf(`Host labhost
  HostName 127.0.0.1
  Port %s
Host *
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
  IdentityFile %s
`, sshPort, filepath.Join(home, ".ssh", "id_ed25519")))
	// OpenSSH reads the passwd entry's home, not $HOME: wrappers earlier
	// on PATH give ssh, sftp and scp this client config (and only that).
	bin := filepath.Join(home, "bin")
	for _, prog := range []string{"ssh", "sftp", "scp"} {
		if real, err := exec.LookPath(prog); err == nil {
			writeTestFile(t, filepath.Join(bin, prog), fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", real, sshConfig))
			os.Chmod(filepath.Join(bin, prog), 0o755)
		}
	}
	if out, code := labd(t, "user", "key", "add", "alice", filepath.Join(e.dir, "carol.pub"), "--config", path); code != 0 {
		t.Fatalf("user key add: %s", out)
	}
	e.env = append(os.Environ(),
		"HOME="+home,
		"PATH="+strings.Join([]string{bin, filepath.Dir(labdBin), os.Getenv("PATH")}, string(os.PathListSeparator)),
		"LABD_CONFIG="+path,
		"LANG=C", "LC_ALL=", "LC_MESSAGES=",
	)
	return e
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// port returns the test daemon's port for a listener key.
func (e *docEnv) port(t *testing.T, key string) string {
	t.Helper()
	if e.v6 {
		labtest.Require(t, e.p.addrs[key+"@::1"] != "", "an IPv6 loopback (::1)")
		key += "@::1"
	}
	_, p, err := net.SplitHostPort(e.p.addr(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rewrite points a command at the test daemon: the lab ports, the lab
// host's names with a standard port or in a URL, the installed paths.
func (e *docEnv) rewrite(t *testing.T, cmd string) string {
	t.Helper()
	e.v6 = strings.Contains(cmd, "::1")
	defer func() { e.v6 = false }()
	cmd = strings.ReplaceAll(cmd, "/etc/labd/labd.yaml", e.config)
	cmd = strings.ReplaceAll(cmd, "/var/lib/labd", e.dataDir)
	if strings.Contains(cmd, "-hostkey SHA256:...") {
		// The placeholder stands for what labd hostkeys prints.
		out, code := labd(t, "hostkeys", "--config", e.config)
		fp := regexp.MustCompile(`SHA256:[A-Za-z0-9+/]+`).FindString(out)
		if code != 0 || fp == "" {
			t.Fatalf("labd hostkeys: %s", out)
		}
		cmd = strings.ReplaceAll(cmd, "SHA256:...", fp)
	}
	if dsn := "postgres://labd:SECRET@db.lab.example/labd"; strings.Contains(cmd, dsn) {
		cmd = strings.ReplaceAll(cmd, dsn, pgURL(t, labtest.Postgres(t)))
	}
	cmd = hostURL.ReplaceAllStringFunc(cmd, func(s string) string {
		m := hostURL.FindStringSubmatch(s)
		key, ok := schemePorts[m[1]]
		if !ok {
			t.Fatalf("%s: no listener for scheme %s", cmd, m[1])
		}
		return m[1] + "://" + m[2] + "127.0.0.1:" + e.port(t, key) + "/"
	})
	cmd = hostPort.ReplaceAllStringFunc(cmd, func(s string) string {
		m := hostPort.FindStringSubmatch(s)
		key, ok := stdPorts[m[2]]
		if !ok {
			t.Fatalf("%s: no listener for port %s", cmd, m[2])
		}
		return "127.0.0.1 " + e.port(t, key)
	})
	return labPort.ReplaceAllStringFunc(cmd, func(lab string) string {
		key, ok := labPorts[lab]
		if !ok {
			t.Fatalf("%s: unknown lab port %s", cmd, lab)
		}
		return e.port(t, key)
	})
}

// pgURL turns labtest.Postgres's key=value DSN into the URL form the
// pages write.
func pgURL(t *testing.T, dsn string) string {
	t.Helper()
	kv := map[string]string{}
	for _, f := range strings.Fields(dsn) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(kv["host"], kv["port"]), Path: "/" + kv["dbname"], RawQuery: "sslmode=disable"}
	u.User = url.User(kv["user"])
	if p, ok := kv["password"]; ok {
		u.User = url.UserPassword(kv["user"], p)
	}
	return u.String()
}

// program is the command's first word after VAR=value assignments.
func program(cmd string) string {
	for _, f := range strings.Fields(cmd) {
		if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(f) {
			return f
		}
	}
	return ""
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=(\$\(.*\)|\S*)$`)

// printsSomething are clients whose output is the point of the command
// (unless it goes to a file): silence means the command did not do what
// the page says, as curl imap://HOST/INBOX listing nothing did.
var printsSomething = map[string]bool{"curl": true, "dig": true, "host": true, "lftp": true, "swaks": true, "plink": true, "tshark": true, "capinfos": true}

// runShell runs one line of a sh block with bash, after the page's
// earlier variable assignments.
func (e *docEnv) runShell(t *testing.T, c docCmd, stdin string) (output string) {
	prog := program(c.Text)
	isVar := assignment.MatchString(c.Text)
	if prog != "labd" && prog != "echo" && !isVar {
		labtest.Tool(t, prog)
	}
	cmd := e.rewrite(t, c.Text)
	script := strings.Join(append(append([]string{}, e.vars...), cmd), "\n")
	if isVar {
		e.vars = append(e.vars, cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, "bash", "-c", script)
	x.Dir, x.Env = e.dir, e.env
	x.Stdin = strings.NewReader(stdin)
	var stdout, all labtest.SyncBuffer
	x.Stdout, x.Stderr = io.MultiWriter(&stdout, &all), &all
	err := x.Run()
	out := all.String()
	if err != nil {
		t.Errorf("%s\nfails as written (ran %s): %v\n%s", c, cmd, err, out)
		return out
	}
	// Progress meters and -v go to stderr: what the command prints is
	// its standard output.
	if printsSomething[prog] && !regexp.MustCompile(` -[a-zA-Z]*[oT] `).MatchString(c.Text) && strings.TrimSpace(stdout.String()) == "" {
		t.Errorf("%s\nprinted nothing (ran %s)", c, cmd)
	}
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(c.Comment, -1) {
		if !strings.Contains(out, m[1]) {
			t.Errorf("%s\nits comment says %q, the output does not:\n%s", c, m[1], out)
		}
	}
	t.Logf("%s\n%s", cmd, out)
	return out
}

// shellPrompt is the lab shell's prompt in a session: what follows it
// was typed.
var shellPrompt = regexp.MustCompile(`^[a-z0-9._-]+@[a-z0-9.-]+:[^$]*\$ (.*)$`)

// Every command of the pages runs as written against a test daemon (one
// per page), unless docs-not-run.txt says why it cannot.
func TestDocsCommandsRun(t *testing.T) {
	skip := notRun(t)
	byPage := map[string][]docCmd{}
	var pages []string
	for _, c := range docCommands(t) {
		if _, ok := skip[c.Text]; ok && !c.Console {
			continue // console sessions always run
		}
		if byPage[c.File] == nil {
			pages = append(pages, c.File)
		}
		byPage[c.File] = append(byPage[c.File], c)
	}
	// A page's sessions run after its other commands: what they delete
	// (DELE, EXPUNGE) is gone for good, as message 1 of a later
	// curl .../INBOX;UID=1 would be.
	for _, cmds := range byPage {
		sort.SliceStable(cmds, func(i, j int) bool { return !cmds[i].Console && cmds[j].Console })
	}
	for _, page := range pages {
		t.Run(page, func(t *testing.T) {
			e := newDocEnv(t)
			for _, c := range byPage[page] {
				t.Run(fmt.Sprint(c.Line), func(t *testing.T) {
					switch {
					case !c.Console:
						e.runShell(t, c, "")
					case program(c.Text) == "nc" || program(c.Text) == "telnet":
						e.replay(t, c)
					default:
						var typed, shown []string
						prompt := program(c.Text) + "> "
						for _, l := range c.Session {
							if in, ok := strings.CutPrefix(l, prompt); ok {
								typed = append(typed, in)
							} else if m := shellPrompt.FindStringSubmatch(l); m != nil {
								typed = append(typed, m[1])
							} else if f := strings.Fields(l); len(f) > 0 && f[0] != "..." && f[0] != "…" {
								shown = append(shown, f[0])
							}
						}
						out := e.runShell(t, c, strings.Join(typed, "\n")+"\n")
						for _, w := range shown {
							if !strings.Contains(out, w) {
								t.Errorf("%s\nthe session shows %q, the output does not", c, w)
							}
						}
					}
				})
			}
		})
	}
}

// A protocol for replaying a console session: which lines the server
// says, and when its answer to a line is complete.
type replayProto int

const (
	lineFTP replayProto = iota // FTP and SMTP: 3-digit replies
	linePOP3
	lineIMAP
	lineHTTP
)

var (
	codeLine = regexp.MustCompile(`^\d{3}([ -]|$)`)
	imapDone = regexp.MustCompile(`^\S+ (OK|NO|BAD)\b`)
	epsvPort = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
)

// replay connects where the session's nc or telnet connects, types the
// client's lines and checks every answer shown by its status.
func (e *docEnv) replay(t *testing.T, c docCmd) {
	cmd := e.rewrite(t, c.Text)
	f := strings.Fields(cmd)
	if len(f) < 3 {
		t.Fatalf("%s: want \"nc HOST PORT\"", c)
	}
	port := f[len(f)-1]
	var key string
	for k, a := range e.p.addrs {
		if _, p, _ := net.SplitHostPort(a); p == port && strings.HasSuffix(k, "/tcp") {
			key = k
		}
	}
	var proto replayProto
	switch key {
	case "ftp/tcp", "smtp/tcp", "submission/tcp":
		proto = lineFTP
	case "pop3/tcp":
		proto = linePOP3
	case "imap/tcp":
		proto = lineIMAP
	case "http/tcp":
		proto = lineHTTP
	default:
		t.Fatalf("%s: no replay for %s", c, key)
	}
	eol := "\n" // nc sends what was typed; -C and telnet send CRLF
	if strings.Contains(cmd, " -C ") || program(cmd) == "telnet" {
		eol = "\r\n"
	}
	conn := labtest.Dial(t, net.JoinHostPort(f[len(f)-2], port))
	br := bufio.NewReader(conn)
	var trace strings.Builder
	defer func() { t.Logf("%s (ran %s):\n%s", c, cmd, trace.String()) }()
	var got []string // the server's lines not yet matched
	readLine := func() string {
		t.Helper()
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: reading the answer: %v (so far %q)", c, err, got)
		}
		l = strings.TrimRight(l, "\r\n")
		fmt.Fprintf(&trace, "S: %s\n", l)
		got = append(got, l)
		return l
	}
	// readReply reads a server's whole answer to one line.
	dataMode, dataSent, multi, httpAnswered := false, false, false, false
	readReply := func(sent string) {
		t.Helper()
		verb := strings.ToUpper(strings.Fields(sent + " x")[0])
		switch proto {
		case lineFTP:
			if dataMode {
				if sent != "." {
					return
				}
				dataMode = false
			}
			for {
				l := readLine()
				if len(l) >= 4 && l[3] == '-' || !codeLine.MatchString(l) {
					continue
				}
				if m := epsvPort.FindStringSubmatch(l); m != nil {
					go func() { // the second nc, for the listing
						d, err := net.DialTimeout("tcp", net.JoinHostPort(f[len(f)-2], m[1]), 5*time.Second)
						if err == nil {
							io.Copy(io.Discard, d)
							d.Close()
						}
					}()
				}
				if l[0] == '1' {
					continue
				}
				if strings.HasPrefix(l, "354") {
					dataMode, dataSent = true, false
				}
				return
			}
		case linePOP3:
			args := len(strings.Fields(sent))
			multi = verb == "CAPA" || verb == "TOP" || verb == "RETR" || (verb == "LIST" || verb == "UIDL") && args == 1
			if l := readLine(); !strings.HasPrefix(l, "+OK") || !multi {
				return
			}
			for readLine() != "." {
			}
		case lineIMAP:
			if sent == "" {
				readLine() // the greeting
				return
			}
			tag := strings.Fields(sent + " x")[0]
			for {
				l := readLine()
				if strings.HasPrefix(l, "+ ") && strings.EqualFold(strings.Fields(sent + " x y")[1], "IDLE") {
					return
				}
				if strings.HasPrefix(l, tag+" ") && imapDone.MatchString(l) || sent == "DONE" && imapDone.MatchString(l) {
					return
				}
			}
		case lineHTTP:
			if sent != "" {
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			httpAnswered = true
			body, _ := io.ReadAll(resp.Body)
			fmt.Fprintf(&trace, "S: %s %s\n%s\n", resp.Proto, resp.Status, body)
			got = append(got, resp.Proto+" "+resp.Status)
			got = append(got, strings.Split(string(body), "\n")...)
		}
	}
	// status is what a shown answer line is checked by.
	status := func(l string) string {
		fl := strings.Fields(l)
		switch {
		case proto == lineFTP && codeLine.MatchString(l):
			return l[:3]
		case proto == linePOP3 && len(fl) > 0 && (fl[0] == "+OK" || fl[0] == "-ERR"):
			return fl[0]
		case proto == lineIMAP && len(fl) > 2 && fl[0] == "*" && regexp.MustCompile(`^\d+$`).MatchString(fl[1]):
			return "* " + fl[2]
		case proto == lineIMAP && len(fl) > 1 && (fl[0] == "*" || imapDone.MatchString(l)):
			return fl[0] + " " + fl[1]
		case proto == lineIMAP && len(fl) > 0 && fl[0] == "+":
			return "+"
		case proto == lineHTTP && len(fl) > 1 && strings.HasPrefix(fl[0], "HTTP/"):
			return fl[0] + " " + fl[1]
		}
		return ""
	}
	// isServer tells the server's lines from the typed ones.
	pop3Multi := false
	isServer := func(l string) bool {
		s := strings.TrimSpace(l)
		switch proto {
		case lineFTP:
			return codeLine.MatchString(s) && (!dataMode || !dataSent)
		case linePOP3:
			if pop3Multi {
				if s == "." {
					pop3Multi = false
				}
				return true
			}
			if strings.HasPrefix(s, "+OK") && multi {
				pop3Multi = true
			}
			return strings.HasPrefix(s, "+OK") || strings.HasPrefix(s, "-ERR")
		case lineIMAP:
			return strings.HasPrefix(s, "* ") || strings.HasPrefix(s, "+ ") || imapDone.MatchString(s)
		case lineHTTP:
			return httpAnswered
		}
		return false
	}
	check := func(shown string) {
		t.Helper()
		want := status(shown)
		if want == "" {
			return
		}
		for len(got) > 0 {
			l := got[0]
			got = got[1:]
			if status(l) == want {
				return
			}
		}
		t.Errorf("%s\nthe session shows %q; the server did not answer that way", c, shown)
	}
	// The greeting.
	if proto == lineFTP || proto == linePOP3 || proto == lineIMAP {
		readReply("")
	}
	for _, l := range c.Session {
		s := strings.TrimSpace(l)
		if s == "..." || s == "…" || strings.HasPrefix(s, "(") {
			continue // elided, or what the person does meanwhile
		}
		if isServer(l) {
			check(s)
			continue
		}
		typed, _ := splitComment(s)
		if dataMode || proto == lineHTTP {
			typed = l // message and request lines are sent as they are
			dataSent = dataMode
		}
		fmt.Fprintf(&trace, "C: %s\n", typed)
		if _, err := io.WriteString(conn, typed+eol); err != nil {
			t.Fatalf("%s: sending %q: %v", c, typed, err)
		}
		got = nil
		readReply(typed)
	}
}

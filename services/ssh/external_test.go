package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"labd/internal/labtest"
	labssh "labd/services/ssh"
)

// External clients: OpenSSH's ssh, sftp and scp (with sshpass for the
// password) and PuTTY's plink. Each runs with a fresh HOME so that no
// known_hosts, key or PuTTY cache of the machine gets in the way.

func (e *env) port(t *testing.T) string {
	_, p, err := net.SplitHostPort(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sshOpts are what a student types to skip the host key question in a
// script, plus no key from the machine's agent.
var sshOpts = []string{
	"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
	"-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=10",
}

type result struct {
	stdout, stderr string
	code           int
}

func runTool(t *testing.T, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
	cmd.Dir = home
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out; stdout %q stderr %q", name, args, r.stdout, r.stderr)
	}
	return r
}

func TestOpenSSHClient(t *testing.T) {
	sshpass := labtestTool(t, "sshpass")
	labtestTool(t, "ssh")
	e := start(t, nil)
	base := append([]string{"-p", "alice", "ssh"}, sshOpts...)
	base = append(base, "-p", e.port(t), "alice@127.0.0.1")

	r := runTool(t, "", sshpass, append(base, "whoami")...)
	if r.code != 0 || r.stdout != "alice\n" {
		t.Errorf("ssh whoami: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runTool(t, "", sshpass, append(base, "nosuchcommand")...)
	if r.code != 127 || !strings.Contains(r.stderr, "nosuchcommand: command not found") {
		t.Errorf("ssh nosuchcommand: code %d stderr %q", r.code, r.stderr)
	}
	// A wrong password: ssh gives up, sshpass reports it (exit 5).
	bad := append([]string{"-p", "wrong", "ssh"}, sshOpts...)
	bad = append(bad, "-o", "NumberOfPasswordPrompts=1", "-p", e.port(t), "alice@127.0.0.1", "whoami")
	if r := runTool(t, "", sshpass, bad...); r.code == 0 {
		t.Errorf("wrong password accepted: %q", r.stdout)
	}

	// A scripted interactive session on a forced PTY, as a student's
	// keystrokes would arrive.
	tt := append([]string{"-p", "alice", "ssh", "-tt"}, sshOpts...)
	tt = append(tt, "-p", e.port(t), "alice@127.0.0.1")
	r = runTool(t, "pwd\nmkdir fromssh\nls\nwhoami\nexit\n", sshpass, tt...)
	if r.code != 0 {
		t.Errorf("ssh -tt: exit code %d; stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"alice@labd:~$ ", "/home/alice\r\n", "fromssh", "alice\r\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ssh -tt session: no %q in %q", want, r.stdout)
		}
	}
	if fi, err := os.Stat(filepath.Join(e.deps.Layout.Home("alice"), "fromssh")); err != nil || !fi.IsDir() {
		t.Errorf("mkdir over ssh -tt: %v", err)
	}
}

func TestOpenSSHPublicKey(t *testing.T) {
	sshBin := labtestTool(t, "ssh")
	e := start(t, nil)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := gossh.MarshalPrivateKey(priv, "student key")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := gossh.NewSignerFromKey(priv)
	if err := e.deps.Store.AddKey(context.Background(), "bob", strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))); err != nil {
		t.Fatal(err)
	}
	args := []string{"-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-p", e.port(t), "bob@127.0.0.1", "whoami"}
	r := runTool(t, "", sshBin, args...)
	if r.code != 0 || r.stdout != "bob\n" {
		t.Errorf("ssh -i key: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	// The same key is not alice's.
	args[len(args)-2] = "alice@127.0.0.1"
	if r := runTool(t, "", sshBin, args...); r.code == 0 {
		t.Errorf("bob's key logged in as alice: %q", r.stdout)
	}
}

func TestSFTPAndSCPClients(t *testing.T) {
	sshpass := labtestTool(t, "sshpass")
	labtestTool(t, "sftp")
	labtestTool(t, "scp")
	e := start(t, nil)
	home := e.deps.Layout.Home("alice")
	work := t.TempDir()
	local := filepath.Join(work, "report.txt")
	content := strings.Repeat("lab report line\n", 5000)
	if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	// sftp with its commands on stdin (sftp -b would switch BatchMode on,
	// which forbids the password sshpass types).
	got := filepath.Join(work, "back.txt")
	cmds := "mkdir up\nput " + local + " up/report.txt\nls up\nrename up/report.txt up/r2.txt\nget up/r2.txt " + got + "\npwd\nbye\n"
	args := append([]string{"-p", "alice", "sftp"}, sshOpts...)
	args = append(args, "-P", e.port(t), "alice@127.0.0.1")
	r := runTool(t, cmds, sshpass, args...)
	if r.code != 0 {
		t.Fatalf("sftp: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(home, "up", "r2.txt")); err != nil || string(b) != content {
		t.Errorf("sftp put: %d bytes, %v", len(b), err)
	}
	if b, err := os.ReadFile(got); err != nil || string(b) != content {
		t.Errorf("sftp get: %d bytes, %v", len(b), err)
	}
	if !strings.Contains(r.stdout, "up/report.txt") || !strings.Contains(r.stdout, "Remote working directory: /") {
		t.Errorf("sftp output: %q", r.stdout)
	}
	// An escape attempt through the real client fails.
	stolen := filepath.Join(work, "stolen")
	r = runTool(t, "get ../../../../etc/hostname "+stolen+"\nget /etc/hostname "+stolen+"\nbye\n", sshpass, args...)
	if _, err := os.Stat(stolen); err == nil {
		t.Error("a file from outside the home was downloaded")
	}
	if !strings.Contains(r.stderr, "not found") {
		t.Errorf("sftp escape: stderr %q, want a not-found error", r.stderr)
	}

	// scp (OpenSSH 9: SFTP underneath), both ways.
	scpArgs := func(src, dst string) []string {
		a := append([]string{"-p", "alice", "scp"}, sshOpts...)
		return append(a, "-P", e.port(t), src, dst)
	}
	r = runTool(t, "", sshpass, scpArgs(local, "alice@127.0.0.1:public_html/report.txt")...)
	if r.code != 0 {
		t.Fatalf("scp put: code %d stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(home, "public_html", "report.txt")); err != nil || string(b) != content {
		t.Errorf("scp put: %d bytes, %v", len(b), err)
	}
	back := filepath.Join(work, "scp-back.txt")
	r = runTool(t, "", sshpass, scpArgs("alice@127.0.0.1:public_html/report.txt", back)...)
	if b, err := os.ReadFile(back); r.code != 0 || err != nil || string(b) != content {
		t.Errorf("scp get: code %d stderr %q, %d bytes, %v", r.code, r.stderr, len(b), err)
	}
	// Legacy SCP (scp -O; the default of OpenSSH 8), both ways, a tree.
	legacy := func(args ...string) result {
		a := append([]string{"-p", "alice", "scp", "-O"}, sshOpts...)
		return runTool(t, "", sshpass, append(append(a, "-P", e.port(t)), args...)...)
	}
	if r := legacy(local, "alice@127.0.0.1:legacy.txt"); r.code != 0 {
		t.Errorf("scp -O put: code %d stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(home, "legacy.txt")); err != nil || string(b) != content {
		t.Errorf("scp -O put: %d bytes, %v", len(b), err)
	}
	tree := filepath.Join(work, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "deep.txt"), []byte("deep"), 0o644)
	if r := legacy("-r", "-p", tree, "alice@127.0.0.1:"); r.code != 0 {
		t.Errorf("scp -O -r put: code %d stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(home, "tree", "sub", "deep.txt")); err != nil || string(b) != "deep" {
		t.Errorf("scp -O -r put: %q, %v", b, err)
	}
	down := filepath.Join(work, "down")
	if r := legacy("-r", "alice@127.0.0.1:tree", down); r.code != 0 {
		t.Errorf("scp -O -r get: code %d stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(down, "sub", "deep.txt")); err != nil || string(b) != "deep" {
		t.Errorf("scp -O -r get: %q, %v", b, err)
	}
	if r := legacy("alice@127.0.0.1:/etc/passwd", filepath.Join(work, "pw")); r.code == 0 || !strings.Contains(r.stderr, "No such file") {
		t.Errorf("scp -O get /etc/passwd: code %d stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(work, "pw")); err == nil {
		t.Error("/etc/passwd was downloaded")
	}
}

func TestPlink(t *testing.T) {
	plink := labtestTool(t, "plink")
	e := start(t, nil)
	fps, _, err := labssh.HostKeyFingerprints(e.deps.Layout)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-batch", "-ssh", "-P", e.port(t), "-pw", "alice"}
	for _, f := range fps {
		args = append(args, "-hostkey", f.SHA256)
	}
	r := runTool(t, "", plink, append(args, "alice@127.0.0.1", "whoami")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "alice" {
		t.Errorf("plink whoami: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runTool(t, "", plink, append(args, "alice@127.0.0.1", "nosuch")...)
	if r.code != 127 {
		t.Errorf("plink nosuch: code %d stderr %q", r.code, r.stderr)
	}
	// An interactive session on a PTY, PuTTY's engine (keyboard-interactive
	// with -pw), keystrokes from a script.
	r = runTool(t, "pwd\nwhoami\nexit\n", plink, append(append([]string{"-t"}, args...), "alice@127.0.0.1")...)
	// Keys typed ahead are echoed when they arrive, as a Unix terminal
	// does, so the echo of the next line may come before pwd's output.
	for _, want := range []string{"alice@labd:~$ pwd\r\n", "/home/alice\r\n", "alice@labd:~$ whoami\r\n", "\r\nalice\r\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plink -t session: no %q in %q (stderr %q)", want, r.stdout, r.stderr)
		}
	}
	if r.code != 0 {
		t.Errorf("plink -t: exit code %d", r.code)
	}
	// A wrong fingerprint: plink refuses to talk to the host.
	bad := []string{"-batch", "-ssh", "-P", e.port(t), "-pw", "alice", "-hostkey", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "alice@127.0.0.1", "whoami"}
	if r := runTool(t, "", plink, bad...); r.code == 0 {
		t.Errorf("plink accepted a wrong host key: %q", r.stdout)
	}
}

func labtestTool(t *testing.T, name string) string { return labtest.Tool(t, name) }

// The lab shell's real syntax through OpenSSH, on a PTY as a student
// types it and as a one-shot command.
func TestOpenSSHShellSyntax(t *testing.T) {
	sshpass := labtestTool(t, "sshpass")
	e := start(t, nil)
	tt := append([]string{"-p", "alice", "ssh", "-tt"}, sshOpts...)
	tt = append(tt, "-p", e.port(t), "alice@127.0.0.1")
	r := runTool(t, "ls | grep public | wc -l\necho a > f; cat < f\nfor i in 1 2; do echo n$i; done\necho $HOME $USER\nexit\n", sshpass, tt...)
	if r.code != 0 {
		t.Fatalf("ssh -tt: exit code %d; stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"1\r\n", "a\r\n", "n1\r\nn2\r\n", "/home/alice alice\r\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ssh -tt: no %q in %q", want, r.stdout)
		}
	}
	base := append([]string{"-p", "alice", "ssh"}, sshOpts...)
	base = append(base, "-p", e.port(t), "alice@127.0.0.1")
	if r := runTool(t, "", sshpass, append(base, "true")...); r.code != 0 {
		t.Errorf("ssh host true: exit %d %q", r.code, r.stderr)
	}
	if r := runTool(t, "", sshpass, append(base, "false")...); r.code != 1 {
		t.Errorf("ssh host false: exit %d", r.code)
	}
	if r := runTool(t, "", sshpass, append(base, "cat < /etc/passwd")...); r.code == 0 || strings.Contains(r.stdout, "root:") {
		t.Errorf("cat < /etc/passwd: exit %d %q", r.code, r.stdout)
	}
}

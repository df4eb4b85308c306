package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"

	"labd/config"
)

// A backup taken while SMTP deliveries go on restores into a fresh data
// directory with every mail acknowledged before it started, byte for byte,
// and the files and keys as they were.
func TestBackupDuringDeliveriesAndRestore(t *testing.T) {
	path, cfg := writeConfig(t, nil)
	p := serve(t, path)
	smtpAddr := p.addr(t, "smtp/tcp")
	page := filepath.Join(cfg.Server.DataDir, "home", "alice", "public_html", "index.html")
	if err := os.WriteFile(page, []byte("<h1>alice's page</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	const total = 40
	var mu sync.Mutex
	acked := 0
	half := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := dialSMTP(t, smtpAddr)
		s.cmd("EHLO backup.test", "250")
		for i := 0; i < total; i++ {
			s.cmd("MAIL FROM:<bob@lab.test>", "250")
			s.cmd("RCPT TO:<alice@lab.test>", "250")
			s.cmd("DATA", "354")
			s.cmd(fmt.Sprintf("Subject: mail %d\r\n\r\nbody %d\r\n.", i, i), "250")
			mu.Lock()
			acked++
			mu.Unlock()
			if i == total/2 {
				close(half)
			}
		}
		s.cmd("QUIT", "221")
	}()
	<-half
	mu.Lock()
	before := acked
	mu.Unlock()
	archive := filepath.Join(t.TempDir(), "class.tar.zst")
	out, code := labd(t, "backup", "-o", archive, "--config", path)
	if code != 0 || !strings.Contains(out, "backup of") {
		t.Fatalf("backup while serving: %d %s", code, out)
	}
	wg.Wait()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	orig := inbox(t, cfg.Server.DataDir, "alice")
	if len(orig) != total {
		t.Fatalf("original INBOX has %d mails, want %d", len(orig), total)
	}

	// Restore into another data directory.
	dir2 := t.TempDir()
	c2 := config.LabEphemeral(filepath.Join(dir2, "data"))
	path2 := writeYAML(t, dir2, c2)
	out, code = labd(t, "restore", archive, "--config", path2)
	if code != 0 {
		t.Fatalf("restore: %d %s", code, out)
	}
	got := inbox(t, c2.Server.DataDir, "alice")
	if len(got) < before {
		t.Errorf("restored %d mails, but %d were acknowledged before the backup began", len(got), before)
	}
	for i, b := range got {
		if b != orig[i] {
			t.Errorf("restored mail %d differs:\n%q\nwant\n%q", i, b, orig[i])
		}
	}
	for _, rel := range []string{"home/alice/public_html/index.html", "tls/ca.pem", "keys/ssh_host_ed25519_key"} {
		a, err1 := os.ReadFile(filepath.Join(cfg.Server.DataDir, rel))
		b, err2 := os.ReadFile(filepath.Join(c2.Server.DataDir, rel))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s not restored identically: %v %v", rel, err1, err2)
		}
	}
	// A second restore refuses to overwrite without --force.
	out, code = labd(t, "restore", archive, "--config", path2)
	if code == 0 || !strings.Contains(out, "--force") {
		t.Errorf("restore over a database without --force: %d %s", code, out)
	}
	if out, code = labd(t, "restore", archive, "--force", "--config", path2); code != 0 {
		t.Errorf("restore --force: %d %s", code, out)
	}
	// The restored data directory serves: the host keys and users came back.
	p2 := serve(t, path2)
	if got := basicAuth(t, "http://"+p2.addr(t, "http/tcp"), "alice", "alice"); got != 200 {
		t.Errorf("alice's login after restore: %d", got)
	}
	out, code = labd(t, "restore", archive, "--force", "--config", path2)
	if code == 0 || !strings.Contains(out, "stop it first") {
		t.Errorf("restore while labd runs: %d %s", code, out)
	}
}

func writeYAML(t *testing.T, dir string, c *config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "labd.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClassReset(t *testing.T) {
	path, cfg := writeConfig(t, nil)
	// Mail for alice, a teacher account, a file in bob's home.
	p := serve(t, path)
	s := dialSMTP(t, p.addr(t, "smtp/tcp"))
	s.cmd("EHLO reset.test", "250")
	s.cmd("MAIL FROM:<bob@lab.test>", "250")
	s.cmd("RCPT TO:<alice@lab.test>", "250")
	s.cmd("DATA", "354")
	s.cmd("Subject: homework\r\n\r\nlast term\r\n.", "250")
	s.cmd("QUIT", "221")
	if out, code := labd(t, "user", "add", "teacher", "--password", "t", "--admin", "--config", path); code != 0 {
		t.Fatal(out)
	}
	out, code := labd(t, "class", "reset", "--config", path)
	if code == 0 || !strings.Contains(out, "stop it first") {
		t.Errorf("class reset while labd runs: %d %s", code, out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	bobFile := filepath.Join(cfg.Server.DataDir, "home", "bob", "notes.txt")
	os.WriteFile(bobFile, []byte("notes"), 0o644)
	ca, _ := os.ReadFile(filepath.Join(cfg.Server.DataDir, "tls", "ca.pem"))

	out, code = labd(t, "class", "reset", "--keep-users", "--config", path)
	if code != 0 || !strings.Contains(out, "class archived to") || !strings.Contains(out, "1 message removed") {
		t.Fatalf("class reset --keep-users: %d %s", code, out)
	}
	if n := len(inbox(t, cfg.Server.DataDir, "alice")); n != 0 {
		t.Errorf("alice's INBOX has %d mails after the reset", n)
	}
	if _, err := os.Stat(bobFile); !os.IsNotExist(err) {
		t.Errorf("bob's file survived the reset: %v", err)
	}
	archives, _ := filepath.Glob(filepath.Join(cfg.Server.DataDir, "archives", "class-*.tar.zst"))
	if len(archives) != 1 {
		t.Errorf("archives: %v", archives)
	}

	out, code = labd(t, "class", "reset", "--config", path)
	if code != 0 || !strings.Contains(out, "students deleted: alice bob") {
		t.Fatalf("class reset: %d %s", code, out)
	}
	out, _ = labd(t, "user", "list", "--config", path)
	if strings.Contains(out, "alice") || !strings.Contains(out, "teacher") {
		t.Errorf("after reset, users:\n%s", out)
	}
	ca2, _ := os.ReadFile(filepath.Join(cfg.Server.DataDir, "tls", "ca.pem"))
	if len(ca) == 0 || !bytes.Equal(ca, ca2) {
		t.Error("the lab CA changed across a class reset")
	}
	// The first archive restores last term's mail.
	if out, code := labd(t, "restore", archives[0], "--force", "--config", path); code != 0 {
		t.Fatalf("restore of the class archive: %s", out)
	}
	if got := inbox(t, cfg.Server.DataDir, "alice"); len(got) != 1 || !strings.Contains(got[0], "last term") {
		t.Errorf("restored INBOX: %q", got)
	}
}

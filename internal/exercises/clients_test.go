package exercises_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"labd/internal/labtest"
)

// More of the built-in pack, each done with the client a student uses,
// and a near miss that must not count.
func TestPackWithRealClients(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	port := func(svc, network string) string { return labtest.Port(t, d.Addr(t, svc, network)) }

	t.Run("dns-tc-tcp with dig", func(t *testing.T) {
		// A query for a user's name answers small: no TC, nothing proven.
		labtest.RunTool(t, "curl", "-s", "-u", "bob:bob", "http://"+d.Addr(t, "http", "tcp")+"/auth")
		labtest.RunTool(t, "dig", "@127.0.0.1", "-p", port("dns", "udp"), "+noedns", "+tcp", "lab.test", "A")
		waitStatus(t, d, "bob", "dns-tc-tcp", "started")
		// big.lab.test does not fit in 512 bytes: dig sees TC and retries
		// over TCP by itself.
		out := labtest.RunTool(t, "dig", "@127.0.0.1", "-p", port("dns", "udp"), "+noedns", "big.lab.test", "A")
		if !strings.Contains(out, "Truncated, retrying in TCP mode") {
			t.Fatalf("dig did not retry over TCP:\n%s", out)
		}
		waitStatus(t, d, "bob", "dns-tc-tcp", "done")
	})

	t.Run("smtp-submission-tls with swaks", func(t *testing.T) {
		sub := d.Addr(t, "submission", "tcp")
		labtest.RunTool(t, "swaks", "--server", sub, "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "alice",
			"--from", "alice@lab.test", "--to", "bob@lab.test")
		e := waitStatus(t, d, "alice", "smtp-submission-tls", "started")
		if !strings.Contains(e.Missing, "TLS") {
			t.Errorf("plaintext submission hint: %q", e.Missing)
		}
		labtest.RunTool(t, "swaks", "--server", sub, "-tls", "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "alice",
			"--from", "alice@lab.test", "--to", "bob@lab.test")
		waitStatus(t, d, "alice", "smtp-submission-tls", "done")
	})

	t.Run("pop3-retr-dele with poplib", func(t *testing.T) {
		script := `
import poplib
p = poplib.POP3("127.0.0.1", ` + port("pop3", "tcp") + `, timeout=20)
p.user("bob"); p.pass_("bob")
p.retr(1); p.dele(1)
%s
`
		// Without QUIT nothing is deleted: started, with the hint.
		labtest.RunTool(t, "python3", "-c", strings.Replace(script, "%s", "p.sock.close()", 1))
		e := waitStatus(t, d, "bob", "pop3-retr-dele", "started")
		if !strings.Contains(e.Missing, "QUIT") {
			t.Errorf("hint without QUIT: %q", e.Missing)
		}
		labtest.RunTool(t, "python3", "-c", strings.Replace(script, "%s", "p.quit()", 1))
		waitStatus(t, d, "bob", "pop3-retr-dele", "done")
	})

	t.Run("ftp-ascii with curl", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(file, []byte("line one\nline two\n"), 0o644)
		url := "ftp://alice:alice@127.0.0.1:" + port("ftp", "tcp") + "/notes.txt"
		labtest.RunTool(t, "curl", "-s", "-T", file, url)
		labtest.RunTool(t, "curl", "-s", "-o", "/dev/null", url)
		if e := status(d, "alice", "ftp-ascii"); e.Status == "done" {
			t.Errorf("a binary transfer counted as ASCII: %+v", e)
		}
		labtest.RunTool(t, "curl", "-s", "-o", "/dev/null", url+";type=A")
		waitStatus(t, d, "alice", "ftp-ascii", "done")
	})

	t.Run("http-public-html with curl over FTP then HTTP", func(t *testing.T) {
		page := filepath.Join(t.TempDir(), "index.html")
		os.WriteFile(page, []byte("<h1>alice</h1>\n"), 0o644)
		web := "http://" + d.Addr(t, "http", "tcp") + "/~alice/index.html"
		// A page fetched without an upload first: only started.
		labtest.RunTool(t, "curl", "-s", "-o", "/dev/null", "http://"+d.Addr(t, "http", "tcp")+"/~bob/")
		waitStatus(t, d, "bob", "http-public-html", "started")
		labtest.RunTool(t, "curl", "-s", "-T", page, "ftp://alice:alice@127.0.0.1:"+port("ftp", "tcp")+"/public_html/index.html")
		if out := labtest.RunTool(t, "curl", "-s", web); !strings.Contains(out, "<h1>alice</h1>") {
			t.Fatalf("the uploaded page: %q", out)
		}
		waitStatus(t, d, "alice", "http-public-html", "done")
	})

	t.Run("http-nc typed by hand", func(t *testing.T) {
		// curl is a program: started at best.
		labtest.RunTool(t, "curl", "-s", "-o", "/dev/null", "http://"+d.Addr(t, "http", "tcp")+"/~alice/")
		if e := status(d, "alice", "http-nc"); e.Status == "done" {
			t.Errorf("curl counted as typed by hand: %+v", e)
		}
		nc := labtest.Tool(t, "nc")
		out, err := runInput(nc, "GET /~alice/ HTTP/1.0\nHost: lab.test\n\n", "-N", "127.0.0.1", port("http", "tcp"))
		if err != nil || !strings.HasPrefix(out, "HTTP/1.") {
			t.Fatalf("nc: %v %q", err, out)
		}
		waitStatus(t, d, "alice", "http-nc", "done")
	})

	t.Run("ssh-publickey with OpenSSH", func(t *testing.T) {
		ssh := labtest.Tool(t, "ssh")
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := gossh.MarshalPrivateKey(priv, "student key")
		key := filepath.Join(t.TempDir(), "id_ed25519")
		os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
		signer, _ := gossh.NewSignerFromKey(priv)
		if err := d.Deps.Store.AddKey(context.Background(), "bob", strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))); err != nil {
			t.Fatal(err)
		}
		out, err := runInput(ssh, "", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-p", port("ssh", "tcp"), "bob@127.0.0.1", "whoami")
		if err != nil || strings.TrimSpace(out) != "bob" {
			t.Fatalf("ssh -i: %v %q", err, out)
		}
		waitStatus(t, d, "bob", "ssh-publickey", "done")
		if e := status(d, "alice", "ssh-publickey"); e.Status == "done" {
			t.Error("alice got bob's key login")
		}
	})
}

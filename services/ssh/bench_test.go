package ssh_test

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"labd/internal/labtest"
	"labd/internal/service"
	labssh "labd/services/ssh"
)

func benchEnv(b *testing.B) string {
	addr, _ := benchDeps(b)
	return addr
}

func benchDeps(b *testing.B) (string, service.Deps) {
	b.Helper()
	cfg := labtest.Config(b)
	deps := labtest.Deps(b, cfg)
	svc, err := labssh.NewService(deps)
	if err != nil {
		b.Fatal(err)
	}
	return labtest.Addr(b, labtest.Start(b, svc), "ssh", "tcp"), deps
}

// benchKey adds a new ed25519 key to alice and returns its signer: a key
// login, as the peer harness does (no bcrypt in the measured path).
func benchKey(b *testing.B, deps service.Deps) gossh.Signer {
	b.Helper()
	signer, _, line := labtest.SSHKey(b)
	if err := deps.Store.AddKey(context.Background(), "alice", line); err != nil {
		b.Fatal(err)
	}
	return signer
}

// BenchmarkLogin is one `ssh host true` with a key: connection, key
// exchange, public-key authentication, a session running one command.
func BenchmarkLogin(b *testing.B) {
	addr, deps := benchDeps(b)
	cc := clientConfig("alice", gossh.PublicKeys(benchKey(b, deps)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := gossh.Dial("tcp", addr, cc)
		if err != nil {
			b.Fatal(err)
		}
		s, err := c.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Run("true"); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkSFTPDownload is a 32 MiB SFTP download (scp's protocol since
// OpenSSH 9) with 64 requests of 32 KiB in flight, as OpenSSH's client
// does, under the cipher OpenSSH's client picks with labd (aes128-ctr
// and hmac-sha2-256-etm) and under AES-GCM. Client and server share the
// process: the figure is for regressions, bench/peers/run.sh compares
// with OpenSSH.
func BenchmarkSFTPDownload(b *testing.B) {
	addr, deps := benchDeps(b)
	const size = 32 << 20
	if err := deps.Layout.EnsureHome("alice"); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(deps.Layout.Home("alice"), "big.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	signer := benchKey(b, deps)
	for _, cipher := range []string{gossh.CipherAES128CTR, gossh.CipherAES128GCM} {
		b.Run(cipher, func(b *testing.B) {
			cc := clientConfig("alice", gossh.PublicKeys(signer))
			cc.Ciphers = []string{cipher}
			cc.MACs = []string{gossh.HMACSHA256ETM}
			c, err := gossh.Dial("tcp", addr, cc)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			sc, err := sftp.NewClient(c, sftp.MaxPacket(32<<10), sftp.MaxConcurrentRequestsPerFile(64))
			if err != nil {
				b.Fatal(err)
			}
			defer sc.Close()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f, err := sc.Open("/big.bin")
				if err != nil {
					b.Fatal(err)
				}
				n, err := f.WriteTo(io.Discard)
				f.Close()
				if err != nil || n != size {
					b.Fatalf("read %d of %d bytes: %v", n, size, err)
				}
			}
		})
	}
}

// BenchmarkExec is one lab-shell command on an established connection
// (a new session channel each time, as ssh host CMD over a ControlMaster).
func BenchmarkExec(b *testing.B) {
	addr := benchEnv(b)
	c, err := gossh.Dial("tcp", addr, clientConfig("alice", gossh.Password("alice")))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := c.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if out, err := s.Output("whoami"); err != nil || string(out) != "alice\n" {
			b.Fatalf("%q %v", out, err)
		}
		s.Close()
	}
}

// BenchmarkConcurrentLogins is 200 clients logging in at once and running
// one command each (the class at the start of a lab).
func BenchmarkConcurrentLogins(b *testing.B) {
	addr := benchEnv(b)
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for j := 0; j < 200; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := gossh.Dial("tcp", addr, clientConfig("bob", gossh.Password("bob")))
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				s, err := c.NewSession()
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				if _, err := s.Output("whoami"); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
}

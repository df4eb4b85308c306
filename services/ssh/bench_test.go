package ssh_test

import (
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"labd/internal/labtest"
	labssh "labd/services/ssh"
)

func benchEnv(b *testing.B) string {
	b.Helper()
	cfg := labtest.Config(b)
	deps := labtest.Deps(b, cfg)
	svc, err := labssh.NewService(deps)
	if err != nil {
		b.Fatal(err)
	}
	return labtest.Addr(b, labtest.Start(b, svc), "ssh", "tcp")
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

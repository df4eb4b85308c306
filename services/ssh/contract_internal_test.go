package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	glssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"labd/internal/contract"
	"labd/internal/shell"
)

// TestContractGliderlabsWindowChange pins what session.go's filteredChannel
// works around in gliderlabs/ssh v0.3.8, and what the workaround relies on:
//
//   - the bug: gliderlabs puts the pty-req size into a channel of one
//     slot that nobody reads before the shell starts, so a window-change
//     sent before "shell" blocks its request loop for good (the reply
//     never comes, and neither does the shell), and it writes sizes into
//     its Pty without a lock (a data race with Session.Pty);
//   - the workaround: DefaultSessionHandler calls Accept on the
//     NewChannel it is given (so filteredChannel sees every request first
//     and keeps window-change away), and Session.Stderr() is the
//     channel's own Stderr() (so stateOf finds the chanState there).
//
// When this fails after an upgrade: if only "still blocks" fails, the
// library fixed the bug and the window-change filter in session.go can go
// (keep the agent refusal); otherwise read the new session.go
// (DefaultSessionHandler, handleRequests, Stderr) and adapt filteredChannel
// and stateOf. Then update the pinned version below.
func TestContractGliderlabsWindowChange(t *testing.T) {
	contract.Pin(t, "github.com/gliderlabs/ssh", "v0.3.8",
		"a window-change before shell blocks the request loop; DefaultSessionHandler accepts the NewChannel it is given; Session.Stderr() is the channel's (services/ssh/session.go)")

	type result struct {
		found bool
		sizes []shell.WindowSize
		pty   glssh.Pty
	}
	results := make(chan result, 1)
	filtered := serveGliderlabs(t, true, func(sess glssh.Session) {
		var r result
		r.pty, _, _ = sess.Pty()
		if st := stateOf(sess); st != nil {
			r.found = true
			select {
			case ws := <-st.win:
				r.sizes = append(r.sizes, ws)
			case <-time.After(10 * time.Second):
			}
		}
		results <- r
		_, _ = io.WriteString(sess, "done\n")
	})

	t.Run("the workaround holds", func(t *testing.T) {
		s := openPty(t, filtered)
		// Two sizes before the shell: the unfiltered library would hang.
		for _, w := range []uint32{100, 120} {
			replied := make(chan error, 1)
			go func() {
				ok, err := s.SendRequest("window-change", true, winch(w, 40))
				if err == nil && !ok {
					err = io.ErrUnexpectedEOF
				}
				replied <- err
			}()
			select {
			case err := <-replied:
				if err != nil {
					t.Fatalf("window-change %d refused: %v", w, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("window-change %d before the shell got no reply: the filter no longer keeps it from gliderlabs", w)
			}
		}
		if err := s.Shell(); err != nil {
			t.Fatalf("shell after two window-changes: %v", err)
		}
		var r result
		select {
		case r = <-results:
		case <-time.After(30 * time.Second):
			t.Fatal("the shell handler never ran")
		}
		if !r.found {
			t.Fatal("stateOf found no chanState: gliderlabs no longer hands Session.Stderr() through from the channel")
		}
		if len(r.sizes) != 1 || r.sizes[0] != (shell.WindowSize{Width: 120, Height: 40}) {
			t.Errorf("the shell got the sizes %v, want the latest 120x40", r.sizes)
		}
		if r.pty.Window.Width != 80 {
			t.Errorf("Session.Pty() says %dx%d, want the pty-req's 80x24 (sizes must not reach gliderlabs)", r.pty.Window.Width, r.pty.Window.Height)
		}
	})

	t.Run("the library still blocks", func(t *testing.T) {
		raw := serveGliderlabs(t, false, func(sess glssh.Session) {})
		s := openPty(t, raw)
		replied := make(chan error, 1)
		go func() {
			_, err := s.SendRequest("window-change", true, winch(100, 40))
			replied <- err
		}()
		// A negative check: a reply within 3 s means the library no longer
		// blocks (a slower reply only makes this pass late, never flake).
		select {
		case err := <-replied:
			t.Errorf("gliderlabs answered a window-change before the shell (%v): the bug is fixed, the window-change filter in session.go may go", err)
		case <-time.After(3 * time.Second):
		}
	})
}

// serveGliderlabs serves one gliderlabs server on loopback, with the
// session channel wrapped in filteredChannel when filter is set.
func serveGliderlabs(t *testing.T, filter bool, h glssh.Handler) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	srv := &glssh.Server{
		Handler:         h,
		HostSigners:     []glssh.Signer{signer},
		PasswordHandler: func(glssh.Context, string) bool { return true },
	}
	if filter {
		srv.ChannelHandlers = map[string]glssh.ChannelHandler{
			"session": func(srv *glssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx glssh.Context) {
				glssh.DefaultSessionHandler(srv, conn, filteredChannel{ch}, ctx)
			},
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// openPty opens a session with an 80x24 pty.
func openPty(t *testing.T, addr string) *gossh.Session {
	t.Helper()
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "alice",
		Auth:            []gossh.AuthMethod{gossh.Password("x")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	return s
}

func winch(w, h uint32) []byte {
	return gossh.Marshal(struct{ Width, Height, PxWidth, PxHeight uint32 }{w, h, 0, 0})
}

package ssh

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	glssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"labd/internal/i18n"
	"labd/internal/service"
	"labd/internal/shell"
)

// sessionChannel is gliderlabs' "session" channel handler with agent
// forwarding refused (gliderlabs accepts auth-agent-req without a way to
// say no; labd never opens an agent channel, but the client should not be
// told that forwarding works) and panics recovered.
func (s *Service) sessionChannel(srv *glssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx glssh.Context) {
	defer service.Recover(s.log, "ssh", "remote", conn.RemoteAddr().String(), "user", userOf(ctx))
	if userOf(ctx) == "" {
		ch.Reject(gossh.Prohibited, errNoUser.Error())
		return
	}
	glssh.DefaultSessionHandler(srv, conn, filteredChannel{ch}, ctx)
}

// filteredChannel drops the session requests labd refuses before
// gliderlabs sees them, and keeps window sizes away from gliderlabs.
type filteredChannel struct{ gossh.NewChannel }

// chanState is what the filter shares with the session handler.
type chanState struct {
	// win holds the latest window size (one slot, latest wins).
	win chan shell.WindowSize
}

// trackedChannel is the channel gliderlabs wraps into its Session; the
// handler finds the chanState through Stderr(), the one Channel method
// gliderlabs passes through untouched.
type trackedChannel struct {
	gossh.Channel
	st *chanState
}

func (c trackedChannel) Stderr() io.ReadWriter { return stateStderr{c.Channel.Stderr(), c.st} }

type stateStderr struct {
	io.ReadWriter
	st *chanState
}

func stateOf(sess glssh.Session) *chanState {
	if s, ok := sess.Stderr().(stateStderr); ok {
		return s.st
	}
	return nil
}

func (f filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := f.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	st := &chanState{win: make(chan shell.WindowSize, 1)}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		// gliderlabs puts every window-change into a channel of one slot
		// that nobody reads before the shell starts (a second size would
		// block the request loop for good), and writes the size into
		// its Pty without a lock (a data race with Session.Pty). So
		// window-change requests stop here: the latest size waits in
		// st.win for the shell.
		pty := false
		for r := range reqs {
			switch r.Type {
			case "auth-agent-req@openssh.com", "x11-req":
				if r.WantReply {
					r.Reply(false, nil)
				}
				continue
			case "pty-req":
				pty = true
			case "window-change":
				var w struct{ Width, Height, PxWidth, PxHeight uint32 }
				ok := pty && gossh.Unmarshal(r.Payload, &w) == nil
				if r.WantReply {
					r.Reply(ok, nil)
				}
				if ok {
					latest(st.win, shell.WindowSize{Width: int(w.Width), Height: int(w.Height)})
				}
				continue
			}
			out <- r
		}
	}()
	return trackedChannel{ch, st}, out, nil
}

// latest puts ws into a one-slot channel, replacing what it holds; one
// sender only.
func latest(ch chan shell.WindowSize, ws shell.WindowSize) {
	select {
	case ch <- ws:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	select {
	case ch <- ws:
	default:
	}
}

// handleSession runs a "shell" or "exec" request: the interactive lab
// shell on a PTY, one command, or lines read from a pipe.
func (s *Service) handleSession(sess glssh.Session) {
	ctx := sess.Context()
	user := userOf(ctx)
	remote := sess.RemoteAddr().String()
	log := s.log.With("remote", remote, "user", user)
	defer service.Recover(log, "ssh", "remote", remote, "user", user)
	if user == "" {
		fmt.Fprintln(sess.Stderr(), errNoUser)
		sess.Exit(1)
		return
	}
	reg := sessionOf(ctx)

	// The size of the pty-req; later sizes come through the filter.
	ptyReq, _, isPty := sess.Pty()
	var resize <-chan shell.WindowSize
	if st := stateOf(sess); st != nil {
		resize = st.win
	}

	sh, err := shell.New(shell.Env{Deps: s.deps, User: user, Proto: "ssh", Remote: remote, Session: reg, Tr: i18n.New(s.deps.Config.Server.Lang())})
	if err != nil {
		log.Error("lab shell", "err", err)
		fmt.Fprintf(sess.Stderr(), "The lab shell cannot start: %v\n", err)
		sess.Exit(1)
		return
	}
	defer sh.Close()

	cmd := sess.RawCommand()
	switch {
	case cmd != "":
		var stderr io.Writer = sess.Stderr()
		if isPty {
			stderr = sess // a terminal shows both on one stream
		}
		var code int
		if args := sess.Command(); isSCP(args) && !isPty {
			code = s.runSCP(sess, user, args)
		} else {
			var stdin io.Reader
			if !isPty {
				stdin = sess // ssh host 'cat > f' < f
			}
			code = s.exec(ctx, sh, cmd, stdin, sess, stderr)
		}
		log.Info("ssh exec", "command", cmd, "status", code)
		if reg != nil {
			reg.Notef("exec %q: exit status %d", cmd, code)
		}
		sess.Exit(code)
	case isPty:
		if reg != nil {
			reg.SetAttr("pty", fmt.Sprintf("%s %dx%d", ptyReq.Term, ptyReq.Window.Width, ptyReq.Window.Height))
			reg.Notef("interactive lab shell on a PTY (%s %dx%d)", ptyReq.Term, ptyReq.Window.Width, ptyReq.Window.Height)
		}
		s.track(sess, true)
		defer s.track(sess, false)
		err := sh.Interactive(ctx, sess, ptyReq.Window.Width, ptyReq.Window.Height, resize)
		if err != nil && ctx.Err() == nil {
			log.Debug("lab shell ended", "err", err)
		}
		sess.Exit(0)
	default:
		if reg != nil {
			reg.Notef("lab shell without a PTY: commands read line by line")
		}
		sess.Exit(s.lines(ctx, sh, sess))
	}
}

// track adds or removes an interactive shell that Shutdown tells.
func (s *Service) track(w io.Writer, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shell == nil {
		s.shell = map[io.Writer]struct{}{}
	}
	if on {
		s.shell[w] = struct{}{}
	} else {
		delete(s.shell, w)
	}
}

// exec runs one command line in the lab shell. scp here means a legacy
// scp that cannot run (on a PTY, or typed in a script).
func (s *Service) exec(ctx context.Context, sh *shell.Shell, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
	if isSCP(strings.Fields(cmd)) {
		fmt.Fprintln(stderr, "labd: scp runs only as the server side of an scp client (scp -t/-f, without a PTY); use scp, sftp or FileZilla from your machine")
		return 1
	}
	return sh.ExecIO(ctx, cmd, stdin, stdout, stderr)
}

// lines runs the lab shell over a pipe (ssh -T, ssh host < script): each
// line is one command, with no prompt and no echo, like sh reading a
// script. It returns the status of the last command.
func (s *Service) lines(ctx context.Context, sh *shell.Shell, sess glssh.Session) int {
	sc := bufio.NewScanner(sess)
	sc.Buffer(make([]byte, 4096), 64<<10)
	code := 0
	var pending string
	for ctx.Err() == nil && sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if f := strings.Fields(line); pending == "" && len(f) > 0 && (f[0] == "exit" || f[0] == "logout") {
			return code
		}
		// A loop or a here-document spans lines: run it once complete.
		pending += line + "\n"
		if sh.Incomplete(pending) && len(pending) < 64<<10 {
			continue
		}
		if strings.TrimSpace(pending) != "" {
			code = s.exec(ctx, sh, pending, nil, sess, sess.Stderr())
		}
		pending = ""
	}
	if strings.TrimSpace(pending) != "" {
		code = s.exec(ctx, sh, pending, nil, sess, sess.Stderr())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(sess.Stderr(), "labsh: %v\n", err)
		return 2
	}
	return code
}

package imap_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"labd/internal/labtest"
	imapsvc "labd/services/imap"
)

// startStoppable serves IMAP like start, with a stop that does what
// SIGTERM does, with a grace of a minute (labtest.StartStoppable).
func startStoppable(t *testing.T) (env, func() time.Duration) {
	t.Helper()
	return startStoppableGrace(t, time.Minute)
}

// startStoppableGrace is startStoppable with a grace period of grace.
func startStoppableGrace(t *testing.T, grace time.Duration) (env, func() time.Duration) {
	t.Helper()
	deps := labtest.Deps(t, labtest.Config(t))
	svc, err := imapsvc.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	svc.AuthFailDelay = time.Millisecond
	eps, stopped := labtest.StartStoppable(t, svc, grace)
	stop := func() time.Duration {
		took, err := stopped()
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
		return took
	}
	return env{labtest.Addr(t, eps, "imap", "tcp"), labtest.Addr(t, eps, "imaps", "tcp"), deps}, stop
}

// openConn is a client's connection open at the stop, and what it is.
type openConn struct {
	what string
	c    net.Conn
	br   *bufio.Reader
}

func loggedIn(t *testing.T, e env, mode string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br, _ := dialMode(t, e, mode)
	for _, cmd := range []string{"a LOGIN alice alice", "b SELECT INBOX"} {
		if got := exchange(c, br, cmd[:1], cmd); !strings.Contains(got, cmd[:1]+" OK") {
			t.Fatalf("%s: %s: %q", mode, cmd, got)
		}
	}
	return c, br
}

// TestIdleSessionsEndAtShutdown: when labd stops, logged-in connections
// that wait for their client's next command (idle, or in IDLE as a mail
// client keeps them) are told BYE and closed at once, on 143, after
// STARTTLS and on 993, instead of holding the drain for the whole grace
// period; an APPEND in progress is stored and acknowledged first, then
// gets the same BYE.
func TestIdleSessionsEndAtShutdown(t *testing.T) {
	e, stop := startStoppable(t)
	deliver(t, e.deps, "alice", msg1)
	var idle []openConn
	for _, mode := range modes {
		c, br := loggedIn(t, e, mode)
		idle = append(idle, openConn{mode + ", idle", c, br})
		c, br = loggedIn(t, e, mode)
		io.WriteString(c, "i IDLE\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+ ") {
			t.Fatalf("%s: IDLE: %q %v", mode, l, err)
		}
		idle = append(idle, openConn{mode + ", in IDLE", c, br})
	}
	ac, abr := loggedIn(t, e, "plaintext")
	const body = "Subject: during the stop\r\n\r\nstored all the same\r\n"
	fmt.Fprintf(ac, "p APPEND INBOX {%d}\r\n", len(body))
	ac.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := abr.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q %v", l, err)
	}

	took := make(chan time.Duration, 1)
	go func() { took <- stop() }()
	for _, ic := range idle {
		got := closedBy(t, ic.br, ic.c, ic.what)
		if !strings.HasPrefix(got, "* BYE [UNAVAILABLE]") || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: got %q at shutdown, want only * BYE [UNAVAILABLE]", ic.what, got)
		}
	}
	// The stop is under way (the idle connections got their BYE): the
	// APPEND's message comes now, and is still stored and acknowledged.
	io.WriteString(ac, body+"\r\n")
	got := closedBy(t, abr, ac, "APPEND during the stop")
	if lines := strings.SplitAfter(got, "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "p OK [APPENDUID ") || !strings.HasPrefix(lines[1], "* BYE [UNAVAILABLE]") {
		t.Errorf("APPEND during the stop: got %q, want p OK [APPENDUID ...] then * BYE", got)
	}
	if d := <-took; d > 20*time.Second {
		t.Errorf("the drain took %v with only idle connections left", d)
	}
	waitNoLive(t, e.deps.Sessions)
}

// TestBusySessionsAtShutdown: clients sending commands back to back while
// labd stops each get the answer to every command the library ran, then
// BYE, then the close: a command that arrives as the connection is woken
// is dropped unread, never run after the BYE nor cut off in its answer.
func TestBusySessionsAtShutdown(t *testing.T) {
	e, stop := startStoppable(t)
	deliver(t, e.deps, "alice", msg1)
	var wg sync.WaitGroup
	started := make(chan struct{}, 12)
	for i := range 12 {
		c, br := loggedIn(t, e, modes[i%len(modes)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				tag := fmt.Sprintf("n%d", n)
				if _, err := fmt.Fprintf(c, "%s NOOP\r\n", tag); err != nil {
					t.Errorf("conn %d: closed without BYE: %v", i, err)
					return
				}
				if n == 5 {
					started <- struct{}{}
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				l, err := br.ReadString('\n')
				switch {
				case strings.HasPrefix(l, "* BYE [UNAVAILABLE]"):
					if rest, err := io.ReadAll(br); len(rest) > 0 || err != nil {
						t.Errorf("conn %d: after BYE: %q %v", i, rest, err)
					}
					return
				case err != nil:
					t.Errorf("conn %d: closed without BYE after %q: %v", i, l, err)
					return
				case l != tag+" OK NOOP completed\r\n":
					t.Errorf("conn %d: %q to %s", i, l, tag)
					return
				}
			}
		}()
	}
	for range 12 {
		<-started
	}
	if d := stop(); d > 20*time.Second {
		t.Errorf("the drain took %v with clients only sending NOOP", d)
	}
	wg.Wait()
	waitNoLive(t, e.deps.Sessions)
}

// TestIdleLeftWithoutDone is a contract test of go-imap: when the line
// after IDLE is not DONE, or the client hangs up during IDLE, the library
// goes on to the next command, or closes the session, without waiting
// for the session's Idle to return (imapserver/idle.go). Under -race this
// shows whether the session's selected mailbox is guarded against that.
func TestIdleLeftWithoutDone(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	for i := range 10 {
		c, br := loggedIn(t, e, "plaintext")
		io.WriteString(c, "i IDLE\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE: %q %v", l, err)
		}
		if i%2 == 1 {
			c.Close()
			continue
		}
		io.WriteString(c, "NOTDONE\r\ns SELECT INBOX\r\n")
		got := exchange(c, br, "f", "f FETCH 1:* (FLAGS)")
		if !strings.Contains(got, "i BAD") || !strings.Contains(got, "s OK") || !strings.Contains(got, "* 2 FETCH") || !strings.Contains(got, "f OK") {
			t.Fatalf("after IDLE without DONE: %q", got)
		}
		c.Close()
	}
	waitNoLive(t, e.deps.Sessions)
}

// Python's imaplib, logged in with INBOX selected when labd stops, learns
// at its next command that the server said BYE, and why (imaplib raises
// abort with the BYE's text).
func TestPythonImaplibAtStop(t *testing.T) {
	e, stop := startStoppable(t)
	deliver(t, e.deps, "alice", msg1)
	script := `
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("alice", "alice")
M.select("INBOX")
print("ready", flush=True)
sys.stdin.readline()
try:
    print("noop", M.noop())
except imaplib.IMAP4.abort as e:
    print("abort", e)
print("bye", M.untagged_responses.get("BYE"))
`
	resume := labtest.RunToolPaused(t, "python3", "-c", script, labtest.Port(t, e.plain))
	if d := stop(); d > 20*time.Second {
		t.Errorf("the stop took %v with an idle imaplib session", d)
	}
	rest := resume()
	if want := "abort command: NOOP => [UNAVAILABLE] labd is stopping"; !strings.HasPrefix(rest, want) {
		t.Errorf("imaplib after the stop: %q, want %q", rest, want)
	}
}

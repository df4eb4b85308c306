package imap_test

import (
	"bytes"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"labd/internal/labtest"
)

// TestShutdownNotHeldByClientNotReading: a client that pipelines commands
// the front filter answers itself (FETCH 0) and never reads its answers
// leaves the filter blocked writing one, for up to the 30 s write
// deadline, and again for the next one if it reads a little now and
// then. The stop must not wait for that: the drain ends such a
// connection at the end of the grace period, as it ends any other.
func TestShutdownNotHeldByClientNotReading(t *testing.T) {
	const grace = time.Second
	e, stop := startStoppableGrace(t, grace)
	c, _, _ := dialMode(t, e, "plaintext")
	chunk := bytes.Repeat([]byte("x FETCH 0\r\n"), 4096)
	var wrote atomic.Int64 // unix nanoseconds of the last write done
	wrote.Store(time.Now().UnixNano())
	go func() {
		// Until the server stops reading (blocked writing its answers),
		// then until the connection is closed.
		for {
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := c.Write(chunk); err != nil {
				return
			}
			wrote.Store(time.Now().UnixNano())
		}
	}()
	// Both socket buffers full: no write done for 2 s.
	for deadline := time.Now().Add(time.Minute); time.Since(time.Unix(0, wrote.Load())) < 2*time.Second; {
		if time.Now().After(deadline) {
			t.Fatal("the server still reads after a minute of answers never read")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := stop(); d > grace+10*time.Second {
		t.Errorf("the stop took %v with a grace period of %v: held by a client that does not read", d, grace)
	}
	waitNoLive(t, e.deps.Sessions)
}

// TestSilentIMAPSClientAtShutdown: a client that connects to 993 and
// never starts TLS (a student's `telnet host 993`) leaves the library's
// greeting waiting in the handshake; the stop ends it at once rather
// than at the end of the grace period.
func TestSilentIMAPSClientAtShutdown(t *testing.T) {
	e, stop := startStoppableGrace(t, 40*time.Second)
	c := labtest.Dial(t, e.secure)
	// The library has the connection (it counts as a session once
	// accepted; give the accept loop a moment on a loaded machine).
	for deadline := time.Now().Add(10 * time.Second); len(e.deps.Sessions.Live()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no session for the 993 connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := stop(); d > 20*time.Second {
		t.Errorf("the drain took %v with only a client silent on 993", d)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); len(b) > 0 || err != nil {
		t.Errorf("silent 993 client: got %q %v, want the end of the stream", b, err)
	}
	waitNoLive(t, e.deps.Sessions)
}

// TestAuthenticateExchangeEndsAtShutdown: a connection in the middle of
// an AUTHENTICATE exchange (the server's "+" sent, the client's answer
// not yet) is between two lines of the client, as in IDLE: the stop ends
// it at once with only BYE, on 143, after STARTTLS and on 993.
func TestAuthenticateExchangeEndsAtShutdown(t *testing.T) {
	e, stop := startStoppable(t)
	var conns []openConn
	for _, mode := range modes {
		c, br, _ := dialMode(t, e, mode)
		io.WriteString(c, "a AUTHENTICATE PLAIN\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+") {
			t.Fatalf("%s: AUTHENTICATE: %q %v", mode, l, err)
		}
		conns = append(conns, openConn{mode, c, br})
	}
	took := make(chan time.Duration, 1)
	go func() { took <- stop() }()
	for _, ac := range conns {
		if got := closedBy(t, ac.br, ac.c, ac.what); !strings.HasPrefix(got, "* BYE [UNAVAILABLE]") || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: got %q at shutdown, want only * BYE [UNAVAILABLE]", ac.what, got)
		}
	}
	if d := <-took; d > 20*time.Second {
		t.Errorf("the drain took %v with only AUTHENTICATE exchanges open", d)
	}
	waitNoLive(t, e.deps.Sessions)
}

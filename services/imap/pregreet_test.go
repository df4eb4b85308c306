package imap_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
	"labd/internal/sessions"
)

// On 143 labd greets a connection before the library has it (preGreeter):
// the client and the transcript must see one greeting, the library's, as
// before, whether the client waits for it, speaks at once or hangs up.
func TestPreGreeting(t *testing.T) {
	e := start(t)
	// The greeting of a connection the library greets itself (993, TLS
	// first, takes that path) has the same capabilities but STARTTLS.
	dialGreeting := func() (net.Conn, *bufio.Reader, string) {
		conn := labtest.Dial(t, e.plain)
		br := bufio.NewReader(conn)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("greeting: %q %v", l, err)
		}
		return conn, br, l
	}
	conn, br, first := dialGreeting()
	if !strings.HasPrefix(first, "* OK [CAPABILITY IMAP4rev1 ") || !strings.HasSuffix(first, "] IMAP server ready\r\n") {
		t.Fatalf("greeting %q", first)
	}
	// A connection left idle a moment, then used: the library's own
	// greeting must not follow.
	time.Sleep(50 * time.Millisecond)
	if got := exchange(conn, br, "a", "a CAPABILITY"); !strings.HasPrefix(got, "* CAPABILITY ") || !strings.Contains(got, "a OK") {
		t.Errorf("first command after the greeting:\n%s", got)
	}
	if got := exchange(conn, br, "b", "b LOGIN alice alice"); !strings.HasPrefix(got, "b OK") {
		t.Errorf("login: %q", got)
	}
	exchange(conn, br, "c", "c LOGOUT")
	conn.Close()

	// Every connection gets the same greeting.
	c2, _, second := dialGreeting()
	c2.Close()
	if second != first {
		t.Errorf("greetings differ:\n%q\n%q", first, second)
	}

	// A client that speaks before reading the greeting.
	c3 := labtest.Dial(t, e.plain)
	io.WriteString(c3, "p NOOP\r\n")
	br3 := bufio.NewReader(c3)
	c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	for len(got) < 2 {
		l, err := br3.ReadString('\n')
		if err != nil {
			t.Fatalf("pipelined NOOP: %q %v", got, err)
		}
		got = append(got, l)
	}
	if got[0] != first || !strings.HasPrefix(got[1], "p OK") {
		t.Errorf("pipelined NOOP: %q", got)
	}
	c3.Close()

	// A client that hangs up without a word: its session ends.
	c4, _, _ := dialGreeting()
	c4.Close()
	waitNoLive(t, e.deps.Sessions)

	// The transcripts hold the greeting once.
	for _, in := range e.deps.Sessions.List() {
		if in.Proto != "imap" {
			continue
		}
		s, _ := e.deps.Sessions.Get(in.ID)
		greetings := 0
		for _, en := range s.Transcript() {
			if en.Dir == sessions.FromServer && strings.Contains(string(en.Data), "IMAP server ready") {
				greetings++
				if string(en.Data) != first {
					t.Errorf("session %d: greeting recorded as %q", in.ID, en.Data)
				}
			}
		}
		if greetings != 1 {
			t.Errorf("session %d: %d greetings in the transcript", in.ID, greetings)
		}
	}
}

func waitNoLive(t *testing.T, r *sessions.Registry) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(r.Live()) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("sessions still open: %+v", r.Live())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

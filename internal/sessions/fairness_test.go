package sessions

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestLoggedInLeavesTheAddressCount: a connection that logs in frees its
// place in its address's cap and counts against its user's instead; over
// the user's cap it is closed; anonymous is not capped per user.
func TestLoggedInLeavesTheAddressCount(t *testing.T) {
	r := New(Options{})
	l, addr := pipeListener(t, r, ListenerOptions{Proto: "x", MaxPerIP: 2, MaxPerUser: 2,
		Reject: func(c net.Conn) { c.Write([]byte("421 busy\r\n")) }})
	dial, next := acceptAll(t, l, addr)
	refused := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(c)
		return string(got) == "421 busy\r\n"
	}
	// Two log in as alice: the address's two places are free again.
	for i := 0; i < 2; i++ {
		dial()
		next().Session().SetUser("alice")
	}
	dial()
	next()
	c := dial()
	pre := next()
	if c3 := dial(); !refused(c3) {
		t.Error("a third connection not logged in was accepted over the per-address cap of 2")
	}
	// A third alice is over her cap: closed when she logs in.
	pre.Session().SetUser("alice")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("third alice: %v", err)
	}
	if info := pre.Session().Info(); info.Open {
		t.Error("a third connection of alice stays open over the per-user cap of 2")
	}
	// Anonymous has no per-user cap.
	for i := 0; i < 3; i++ {
		dial()
		a := next()
		a.Session().SetUser("anonymous")
		if !a.Session().Info().Open {
			t.Errorf("anonymous connection %d closed", i+1)
		}
	}
}

// TestKillFreesTheAddressPlace: a connection killed through the registry
// (the lab shell's kill) is closed and gives its place in its address's
// cap back; a refused one is recorded, and counts nowhere.
func TestKillFreesTheAddressPlace(t *testing.T) {
	r := New(Options{})
	l, addr := pipeListener(t, r, ListenerOptions{Proto: "x", MaxPerIP: 1,
		Reject: func(c net.Conn) { c.Write([]byte("421 busy\r\n")) }})
	dial, next := acceptAll(t, l, addr)
	c1 := dial()
	a := next()
	if got := a.Session().Info().Local; got != addr {
		t.Errorf("session's local address %q, want %q", got, addr)
	}
	if got, want := a.Session().Info().Remote, c1.LocalAddr().String(); got != want {
		t.Errorf("session's remote address %q, want %q", got, want)
	}
	c2 := dial()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, _ := io.ReadAll(c2); string(got) != "421 busy\r\n" {
		t.Fatalf("second connection over the cap of 1: %q", got)
	}
	if !a.Session().Kill() {
		t.Fatal("Kill of a live connection's session reported false")
	}
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c1); err != nil {
		t.Errorf("killed connection: %v", err)
	}
	if a.Session().Info().Open || a.Session().Kill() {
		t.Error("killed session still open, or killed twice")
	}
	if n := l.Active(); n != 0 {
		t.Errorf("%d connections active after the kill", n)
	}
	dial()
	b := next()
	if !b.Session().Info().Open {
		t.Error("the place freed by the kill was not given to the next connection")
	}
	var refused int
	for _, in := range r.List() {
		if !in.Open && in.ID != a.Session().ID() {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused sessions recorded, want 1", refused)
	}
}

// acceptAll accepts every connection of l in the background: dial
// connects a client to addr, next returns the next connection accepted.
func acceptAll(t *testing.T, l net.Listener, addr string) (dial func() net.Conn, next func() *Conn) {
	accepted := make(chan *Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c.(*Conn)
		}
	}()
	dial = func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next = func() *Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}
	return dial, next
}

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
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func() *Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}
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

package http

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a captureConn over one end of a loopback TCP connection,
// and the other end.
func pair(t *testing.T) (*captureConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return &captureConn{Conn: server, accepted: time.Now()}, client
}

type readResult struct {
	n   int
	err error
}

func readAsync(c net.Conn) chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, err := c.Read(make([]byte, 16))
		ch <- readResult{n, err}
	}()
	return ch
}

// TestLazyDeadlines: the deadlines a captureConn keeps lazily behave as
// the socket's own: a later deadline or none replaces an earlier one, an
// earlier one or one in the past fires.
func TestLazyDeadlines(t *testing.T) {
	const early = 30 * time.Millisecond
	cases := []struct {
		name string
		set  func(c *captureConn)
		// fires: the read ends with a timeout; otherwise it must still
		// be waiting after wait and get the client's byte.
		fires bool
	}{
		{"later replaces earlier", func(c *captureConn) {
			c.SetReadDeadline(time.Now().Add(early))
			c.SetReadDeadline(time.Now().Add(time.Hour))
		}, false},
		{"none replaces one", func(c *captureConn) {
			c.SetReadDeadline(time.Now().Add(early))
			c.SetReadDeadline(time.Time{})
		}, false},
		{"SetDeadline none", func(c *captureConn) {
			c.SetDeadline(time.Now().Add(early))
			c.SetDeadline(time.Time{})
		}, false},
		{"past then none", func(c *captureConn) {
			c.SetReadDeadline(time.Unix(1, 0))
			c.SetReadDeadline(time.Time{})
		}, false},
		{"earlier replaces later", func(c *captureConn) {
			c.SetReadDeadline(time.Now().Add(time.Hour))
			c.SetReadDeadline(time.Now().Add(early))
		}, true},
		{"later after the armed one passed", func(c *captureConn) {
			c.SetReadDeadline(time.Now().Add(early))
			time.Sleep(2 * early)
			c.SetReadDeadline(time.Now().Add(time.Hour))
		}, false},
		{"past, no read waiting", func(c *captureConn) {
			c.SetReadDeadline(time.Now().Add(time.Hour))
			c.SetReadDeadline(time.Unix(1, 0))
		}, true},
		{"none then one", func(c *captureConn) {
			c.SetReadDeadline(time.Now().Add(time.Hour))
			c.SetReadDeadline(time.Time{})
			c.SetReadDeadline(time.Now().Add(early))
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client := pair(t)
			tc.set(c)
			ch := readAsync(c)
			if tc.fires {
				select {
				case r := <-ch:
					if !errors.Is(r.err, os.ErrDeadlineExceeded) {
						t.Fatalf("read: %d, %v; want a timeout", r.n, r.err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the deadline did not fire")
				}
				return
			}
			select {
			case r := <-ch:
				t.Fatalf("read ended early: %d, %v", r.n, r.err)
			case <-time.After(10 * early):
			}
			client.Write([]byte("x"))
			if r := <-ch; r.n != 1 || r.err != nil {
				t.Fatalf("read: %d, %v; want the client's byte", r.n, r.err)
			}
		})
	}
}

// TestLazyDeadlineWakesBlockedRead is net/http's abortPendingRead: a
// deadline in the past ends a read in progress at once, and a read after
// clearing it waits again.
func TestLazyDeadlineWakesBlockedRead(t *testing.T) {
	c, client := pair(t)
	c.SetReadDeadline(time.Now().Add(time.Hour))
	ch := readAsync(c)
	time.Sleep(20 * time.Millisecond)
	c.SetReadDeadline(time.Unix(1, 0))
	select {
	case r := <-ch:
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %d, %v; want a timeout", r.n, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline in the past did not end the read")
	}
	c.SetReadDeadline(time.Time{})
	ch = readAsync(c)
	client.Write([]byte("y"))
	if r := <-ch; r.n != 1 || r.err != nil {
		t.Fatalf("read after clearing: %d, %v", r.n, r.err)
	}
}

// TestLazyWriteDeadline: a write blocked on a full socket past an
// earlier, replaced deadline completes once the client reads.
func TestLazyWriteDeadline(t *testing.T) {
	c, client := pair(t)
	c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	c.SetWriteDeadline(time.Time{})
	big := make([]byte, 32<<20)
	done := make(chan error, 1)
	go func() {
		n, err := c.Write(big)
		if err == nil && n != len(big) {
			err = errors.New("short write")
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	buf := make([]byte, 1<<20)
	got := 0
	for got < len(big) {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
}

// TestPastDeadlineNotArmed is net/http's abortPendingRead before its
// background read began: the socket's timer stays as it was, the read
// fails at once, and after clearing, the next request's deadline (later
// than the armed one) does not move the timer either.
func TestPastDeadlineNotArmed(t *testing.T) {
	c, client := pair(t)
	hour := time.Now().Add(time.Hour)
	c.SetReadDeadline(hour)
	c.SetReadDeadline(time.Unix(1, 0))
	if !c.rd.armed.Equal(hour) {
		t.Errorf("armed %v after a past deadline with no read waiting, want %v", c.rd.armed, hour)
	}
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %d, %v; want a timeout", n, err)
	}
	c.SetReadDeadline(time.Time{})
	c.SetReadDeadline(hour.Add(time.Minute))
	if !c.rd.armed.Equal(hour) {
		t.Errorf("armed %v, want %v", c.rd.armed, hour)
	}
	ch := readAsync(c)
	client.Write([]byte("z"))
	if r := <-ch; r.n != 1 || r.err != nil {
		t.Fatalf("read after clearing: %d, %v", r.n, r.err)
	}
}

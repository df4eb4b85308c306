//go:build unix

package http

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"labd/internal/sessions"
)

// recordedPair returns a captureConn as the HTTP listener makes it (over
// a recording conn over a loopback socket), its session, and the client.
func recordedPair(t *testing.T) (*captureConn, *sessions.Session, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := captureListener{sessions.Listen(sessions.New(sessions.Options{}), ln, sessions.ListenerOptions{Proto: "http"})}
	defer l.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	c := server.(*captureConn)
	if c.direct == nil {
		t.Fatal("no direct write over a recording conn over TCP")
	}
	return c, c.sess, client
}

// writeAsync writes b on c in a goroutine.
func writeAsync(c net.Conn, b []byte) chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, err := c.Write(b)
		ch <- readResult{n, err}
	}()
	return ch
}

// TestDirectWriteRecorded: an answer the socket takes at once is sent
// and recorded once, with no write deadline armed on the socket.
func TestDirectWriteRecorded(t *testing.T) {
	c, sess, client := recordedPair(t)
	c.SetWriteDeadline(time.Now().Add(10 * time.Minute)) // as net/http does
	if n, err := c.Write([]byte("HTTP/1.1 200 OK\r\n\r\nhello")); err != nil || n != 24 {
		t.Fatalf("write: %d, %v", n, err)
	}
	if !c.wd.armed.IsZero() {
		t.Errorf("write deadline armed (%v) for a write that did not wait", c.wd.armed)
	}
	got := make([]byte, 24)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "HTTP/1.1 200 OK\r\n\r\nhello" {
		t.Fatalf("client got %q, %v", got, err)
	}
	var answers []string
	for _, e := range sess.Transcript() {
		if e.Dir == sessions.FromServer {
			answers = append(answers, string(e.Data))
		}
	}
	if len(answers) != 1 || answers[0] != "HTTP/1.1 200 OK\r\n\r\nhello" {
		t.Errorf("transcript's answers %q", answers)
	}
	if in := sess.Info(); in.BytesOut != 24 {
		t.Errorf("bytes out %d, want 24", in.BytesOut)
	}
}

// TestDirectWriteDeadlines: a write to a client that does not read still
// ends at its deadline (armed once the socket is full), with what was
// sent counted once; a deadline that has passed fails the write at once;
// an earlier deadline set while a write waits ends it.
func TestDirectWriteDeadlines(t *testing.T) {
	big := make([]byte, 64<<20)
	t.Run("fires", func(t *testing.T) {
		c, sess, _ := recordedPair(t)
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		select {
		case r := <-writeAsync(c, big):
			if !errors.Is(r.err, os.ErrDeadlineExceeded) || r.n >= len(big) {
				t.Fatalf("write to a client not reading: %d, %v; want a timeout", r.n, r.err)
			}
			if in := sess.Info(); in.BytesOut != int64(r.n) {
				t.Errorf("bytes out %d, the write said %d", in.BytesOut, r.n)
			}
			if n := serverEntries(sess); n != 1 {
				t.Errorf("the write is %d transcript entries, want 1", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("write past its deadline still waiting")
		}
	})
	t.Run("passed", func(t *testing.T) {
		c, sess, _ := recordedPair(t)
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		if n, err := c.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) || n != 0 {
			t.Fatalf("write past its deadline: %d, %v", n, err)
		}
		if in := sess.Info(); in.BytesOut != 0 {
			t.Errorf("bytes out %d after a write past its deadline", in.BytesOut)
		}
	})
	t.Run("earlier while waiting", func(t *testing.T) {
		c, _, _ := recordedPair(t)
		c.SetWriteDeadline(time.Now().Add(time.Hour))
		ch := writeAsync(c, big)
		time.Sleep(300 * time.Millisecond) // the socket fills up
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		select {
		case r := <-ch:
			if !errors.Is(r.err, os.ErrDeadlineExceeded) {
				t.Fatalf("write: %d, %v; want a timeout", r.n, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an earlier deadline set while the write waited did not end it")
		}
	})
}

// serverEntries counts the transcript's entries from labd.
func serverEntries(sess *sessions.Session) int {
	n := 0
	for _, e := range sess.Transcript() {
		if e.Dir == sessions.FromServer {
			n++
		}
	}
	return n
}

// TestDirectWriteFinishes: a write larger than the socket takes at once
// completes when the client reads, counted and recorded as one write.
func TestDirectWriteFinishes(t *testing.T) {
	c, sess, client := recordedPair(t)
	c.SetWriteDeadline(time.Now().Add(time.Hour))
	big := make([]byte, 32<<20)
	ch := writeAsync(c, big)
	time.Sleep(200 * time.Millisecond)
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.CopyN(io.Discard, client, int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.err != nil || r.n != len(big) {
		t.Fatalf("write: %d, %v", r.n, r.err)
	}
	if in := sess.Info(); in.BytesOut != int64(len(big)) {
		t.Errorf("bytes out %d, want %d", in.BytesOut, len(big))
	}
	if n := serverEntries(sess); n != 1 {
		t.Errorf("the write is %d transcript entries, want 1", n)
	}
}

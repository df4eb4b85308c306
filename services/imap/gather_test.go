package imap

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// wrapped stands for the layers above the patientConn (the limiter, the
// front filter, go-imap's conn): gatherWrites finds it through NetConn.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// piece is the i-th write: small and large ones, as go-imap writes a
// FETCH (a head, a body now and then bigger than the gathering buffer, a
// tail).
func piece(i int) []byte {
	return []byte(strings.Repeat(string(rune('a'+i%26)), 1+i*i%(gatherSize+100)))
}

func TestGatherWritesKeepsOrderAndFlushes(t *testing.T) {
	server, client := tcpPair(t)
	pc := &patientConn{Conn: server}
	release := gatherWrites(wrapped{wrapped{pc}})
	var want bytes.Buffer
	for i := 0; i < 300; i++ {
		want.Write(piece(i))
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(want.Len())))
		done <- b
	}()
	for i := 0; i < 300; i++ {
		if _, err := pc.Write(piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if pc.gathering.Load() {
		t.Fatal("still gathering after release")
	}
	if got := <-done; !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("client got %d bytes, want %d in the order written", len(got), want.Len())
	}
	// After release, a write goes out at once.
	pc.Write([]byte("after\r\n"))
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 7)
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "after\r\n" {
		t.Fatalf("write after release: %q %v", b, err)
	}
}

// A read on a gathering connection first sends what was gathered: a
// client waiting for it before it says more would otherwise wait for ever.
func TestGatherWritesFlushBeforeRead(t *testing.T) {
	server, client := tcpPair(t)
	pc := &patientConn{Conn: server}
	defer gatherWrites(pc)()
	pc.Write([]byte("* 1 EXISTS\r\n"))
	go func() {
		b := make([]byte, 12)
		if _, err := io.ReadFull(client, b); err == nil {
			client.Write([]byte("a NOOP\r\n"))
		}
	}()
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 8)
	if _, err := io.ReadFull(pc, b); err != nil || string(b) != "a NOOP\r\n" {
		t.Fatalf("read: %q %v (the gathered write was not sent before the read)", b, err)
	}
}

// Without a patientConn below (net.Pipe in tests) gathering does nothing.
func TestGatherWritesWithoutPatientConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := gatherWrites(wrapped{a})(); err != nil {
		t.Fatal(err)
	}
}

// While gathering, the write deadlines asked for are held and given to
// the socket before each real write: a client that stops reading still
// times the FETCH out.
func TestGatherWritesHoldDeadlines(t *testing.T) {
	server, _ := tcpPair(t) // the client never reads
	pc := &patientConn{Conn: server}
	release := gatherWrites(wrapped{pc})
	chunk := bytes.Repeat([]byte("x"), 10<<10)
	errc := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			// As go-imap does around each message: a deadline, the
			// writes, none.
			_ = pc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := pc.Write(chunk); err != nil {
				errc <- err
				return
			}
			_ = pc.SetWriteDeadline(time.Time{})
		}
	}()
	select {
	case err := <-errc:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("write to a client that does not read: %v, want a timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a gathered write to a client that does not read never timed out")
	}
	_ = release()
	// Not gathering: the deadline goes to the socket at once.
	_ = pc.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := pc.Write([]byte("x")); err == nil {
		t.Fatal("a write after a past deadline succeeded")
	}
}

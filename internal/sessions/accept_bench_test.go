package sessions

import (
	"net"
	"testing"
	"time"
)

// BenchmarkShortConn is the sessions layer's part of a short connection
// (an HTTP request with Connection: close): the listener's Accept, the
// session's registration, one request read and one answer written (both
// recorded), and Close, over a stand-in socket so that the kernel's part
// does not drown it. The registry keeps a history as in production.
//
//	go test -run '^$' -bench ShortConn -benchmem ./internal/sessions
func BenchmarkShortConn(b *testing.B) {
	req := []byte("GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:20080\r\nConnection: close\r\n\r\n")
	answer := make([]byte, 1412)
	ln := &stubListener{req: req, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20080}}
	l := Listen(New(Options{}), ln, ListenerOptions{Proto: "http", MaxPerIP: 1000})
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		c, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		if n, err := c.Read(buf); err != nil || n != len(req) {
			b.Fatalf("read %d, %v", n, err)
		}
		if _, err := c.Write(answer); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// stubListener accepts stubConns from one client address and port after
// another.
type stubListener struct {
	req   []byte
	local *net.TCPAddr
	port  int
}

func (l *stubListener) Accept() (net.Conn, error) {
	l.port = l.port%60000 + 1
	return &stubConn{req: l.req, local: l.local, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1024 + l.port}}, nil
}
func (l *stubListener) Close() error   { return nil }
func (l *stubListener) Addr() net.Addr { return l.local }

// stubConn reads a request once and takes every write.
type stubConn struct {
	req           []byte
	local, remote *net.TCPAddr
}

func (c *stubConn) Read(b []byte) (int, error) {
	n := copy(b, c.req)
	c.req = c.req[n:]
	return n, nil
}
func (c *stubConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *stubConn) Close() error                     { return nil }
func (c *stubConn) LocalAddr() net.Addr              { return c.local }
func (c *stubConn) RemoteAddr() net.Addr             { return c.remote }
func (c *stubConn) SetDeadline(time.Time) error      { return nil }
func (c *stubConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stubConn) SetWriteDeadline(time.Time) error { return nil }

package http

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"labd/internal/sessions"
)

// captureConn keeps the last bytes a client sent on a plain HTTP
// connection, so that the echo page can show the request head exactly as
// it arrived: header order, case, spacing and line endings, which
// net/http's parsed Header map loses.
type captureConn struct {
	net.Conn
	sess  *sessions.Session
	mu    sync.Mutex
	buf   []byte
	ahead []byte // read from the client, not yet handed to net/http
	// aheadBuf holds ahead; it goes back to the pool once ahead is
	// handed over.
	aheadBuf *[readAhead]byte

	// dmu guards the lazily kept deadlines (deadline.go) and reading.
	dmu    sync.Mutex
	rd, wd lazyDeadline
	// reading and writing count the Reads and the waiting Writes under
	// way (deadline.go).
	reading, writing int
	// direct writes without waiting when it can (trywrite_unix.go); nil
	// when not over a recording conn over a socket.
	direct *directWrite
	// accepted is when the connection was accepted: a deadline before
	// it has passed.
	accepted time.Time
}

const captureMax = 64 << 10

// readAhead is what a small read asks the socket for.
const readAhead = 4096

// aheadPool recycles the read-ahead buffers: net/http's background
// one-byte read after every request made one 4 KiB garbage buffer per
// request (half of what a Connection: close request allocated).
var aheadPool = sync.Pool{New: func() any { return new([readAhead]byte) }}

func (c *captureConn) Read(b []byte) (int, error) {
	if err := c.startRead(); err != nil {
		return 0, err
	}
	defer c.endRead()
	for {
		n, err := c.read(b)
		if err == nil || n > 0 || !c.resume(&c.rd, err, c.Conn.SetReadDeadline) {
			return n, err
		}
	}
}

func (c *captureConn) Write(b []byte) (int, error) {
	if c.direct != nil && c.writeWouldArm() {
		// The write deadline is not armed: what the socket takes at
		// once needs none (trywrite_unix.go).
		if n, done, err := c.tryWrite(b); done {
			return n, err
		}
	}
	if err := c.startWrite(); err != nil {
		return 0, err
	}
	defer c.endWrite()
	n, err := c.Conn.Write(b)
	for err != nil && n < len(b) && c.resume(&c.wd, err, c.Conn.SetWriteDeadline) {
		var m int
		m, err = c.Conn.Write(b[n:])
		n += m
	}
	return n, err
}

func (c *captureConn) read(b []byte) (int, error) {
	if len(c.ahead) == 0 && len(b) < readAhead {
		// net/http peeks at the first bytes (is it the HTTP/2 preface?)
		// and waits for the next request with small reads; reading
		// ahead keeps the request in one piece for the session
		// transcript below.
		buf := aheadPool.Get().(*[readAhead]byte)
		n, err := c.Conn.Read(buf[:])
		if n == 0 {
			aheadPool.Put(buf)
			return 0, err
		}
		c.ahead, c.aheadBuf = buf[:n], buf
	}
	if len(c.ahead) > 0 {
		n := copy(b, c.ahead)
		c.ahead = c.ahead[n:]
		if len(c.ahead) == 0 && c.aheadBuf != nil {
			aheadPool.Put(c.aheadBuf)
			c.ahead, c.aheadBuf = nil, nil
		}
		c.keep(b[:n])
		return n, nil
	}
	n, err := c.Conn.Read(b)
	c.keep(b[:n])
	return n, err
}

// keep remembers what the client sent, for the echo page.
func (c *captureConn) keep(b []byte) {
	if n := len(b); n > 0 {
		c.mu.Lock()
		// Over the bound, keep the newest half: trimming to exactly the
		// bound would move 64 KiB on every read of a long keep-alive
		// connection.
		if len(c.buf)+n > captureMax {
			keep := min(len(c.buf), captureMax/2)
			c.buf = append(c.buf[:0], c.buf[len(c.buf)-keep:]...)
		}
		c.buf = append(c.buf, b...)
		if len(c.buf) > captureMax {
			c.buf = c.buf[len(c.buf)-captureMax:]
		}
		c.mu.Unlock()
	}
}

// ReadFrom passes a response body through to the recording conn's
// ReadFrom, so that net/http can still send a large file with sendfile(2).
func (c *captureConn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.syncDeadline(&c.wd, c.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	c.dmu.Lock()
	c.writing++
	c.dmu.Unlock()
	defer c.endWrite()
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// NetConn lets sessions.FromConn find the recording conn beneath.
func (c *captureConn) NetConn() net.Conn { return c.Conn }

// head returns the raw head of the request whose request line is
// "METHOD URI", the latest one received.
func (c *captureConn) head(method, uri string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := []byte(method + " " + uri)
	i := bytes.LastIndex(c.buf, line)
	for i > 0 && c.buf[i-1] != '\n' {
		i = bytes.LastIndex(c.buf[:i], line)
	}
	if i < 0 {
		return nil
	}
	rest := c.buf[i:]
	end := len(rest)
	if j := bytes.Index(rest, []byte("\r\n\r\n")); j >= 0 {
		end = j + 4
	}
	if j := bytes.Index(rest, []byte("\n\n")); j >= 0 && j+2 < end {
		end = j + 2
	}
	if j := bytes.Index(rest, []byte("\n\r\n")); j >= 0 && j+3 < end {
		end = j + 3
	}
	return append([]byte(nil), rest[:end]...)
}

type captureListener struct{ net.Listener }

func (l captureListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &captureConn{Conn: c, sess: sessions.FromConn(c)}
	cc.initDirect()
	// The session began when the connection was accepted: one clock
	// reading less per connection.
	if cc.sess != nil {
		cc.accepted = cc.sess.Started()
	} else {
		cc.accepted = time.Now()
	}
	return cc, nil
}

// echo shows the request as the server received it, to hold next to what
// Wireshark captured.
func (s *Service) echo(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	tr := s.tr
	fmt.Fprint(&b, tr.T("labd echo: this is the request exactly as the server received it.")+"\n\n")
	fmt.Fprintln(&b, tr.T("Client address: %s", r.RemoteAddr))
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		fmt.Fprintln(&b, tr.T("Server address: %s", la.String()))
	}
	fmt.Fprint(&b, tr.T("Protocol:       %s", r.Proto))
	if r.TLS != nil {
		fmt.Fprint(&b, tr.T(" over TLS (%s)", tlsVersion(r.TLS.Version)))
	}
	fmt.Fprint(&b, "\n"+tr.T("Server time:    %s", httpDate())+"\n\n")

	cc := captureOf(r)
	var raw []byte
	if cc != nil {
		raw = cc.head(r.Method, r.RequestURI)
	}
	if raw != nil {
		fmt.Fprintln(&b, tr.T("--- request head, byte for byte (line ends shown as \\r\\n or \\n) ---"))
		for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			text := string(line)
			switch {
			case strings.HasSuffix(text, "\r\n"):
				text = strings.TrimSuffix(text, "\r\n") + `\r\n`
			case strings.HasSuffix(text, "\n"):
				text = strings.TrimSuffix(text, "\n") + `\n`
			}
			b.WriteString(text + "\n")
		}
	} else {
		fmt.Fprintln(&b, tr.T("--- request head as parsed (over TLS or HTTP/2 the raw bytes are not visible to this page; header order is alphabetical) ---"))
		fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.RequestURI, r.Proto)
		if r.Host != "" {
			fmt.Fprintf(&b, "Host: %s\n", r.Host)
		}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range r.Header[k] {
				fmt.Fprintf(&b, "%s: %s\n", k, v)
			}
		}
	}
	switch {
	case r.ContentLength > 0:
		fmt.Fprint(&b, "\n"+tr.T("(body: %d bytes)", r.ContentLength)+"\n")
	case r.ContentLength < 0 && r.Body != nil:
		// Transfer-Encoding: chunked (or HTTP/2 without a length): the
		// size is only known once the body is read.
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, maxEchoBody+1))
		enc := tr.T("no Content-Length")
		if len(r.TransferEncoding) > 0 {
			enc = "Transfer-Encoding: " + strings.Join(r.TransferEncoding, ", ")
		}
		if n > maxEchoBody {
			fmt.Fprint(&b, "\n"+tr.T("(body: more than %d bytes, %s)", maxEchoBody, enc)+"\n")
		} else {
			fmt.Fprint(&b, "\n"+tr.T("(body: %d bytes, %s)", n, enc)+"\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, b.String())
}

// maxEchoBody is how much of a body of unknown length the echo page reads.
const maxEchoBody = 10 << 20

func tlsVersion(v uint16) string {
	switch v {
	case 0x0304:
		return "TLS 1.3"
	case 0x0303:
		return "TLS 1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}

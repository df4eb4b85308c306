package pop3

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzReadLine feeds client bytes to the POP3 command reader. Invariants:
// no panic; every line returned is at most maxLine octets, has no LF and
// no trailing CR; a line too long is answered with -ERR and skipped; the
// reader never returns more lines than the input has LFs.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("USER alice\r\nPASS alice\nSTAT\r\n"))
	f.Add(append(bytes.Repeat([]byte("A"), maxLine+1), "\r\nNOOP\r\n"...))
	f.Add(append(bytes.Repeat([]byte("B"), readBuffer*2), "\nQUIT\n"...))
	f.Add([]byte("\r\r\n\n\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &memConn{r: bytes.NewReader(in)}
		p := &conn{s: &Service{}, c: src, br: bufio.NewReaderSize(src, readBuffer), bw: bufio.NewWriter(src)}
		lines, skipped := 0, 0
		for {
			line, err := p.readLine()
			if err != nil {
				break
			}
			if line == nil {
				skipped++
				continue
			}
			lines++
			if len(line) > maxLine || bytes.IndexByte(line, '\n') >= 0 || bytes.HasSuffix(line, []byte("\r")) {
				t.Fatalf("readLine returned %q", line)
			}
		}
		if lf := bytes.Count(in, []byte("\n")); lines+skipped > lf {
			t.Fatalf("%d lines and %d skipped from %d LFs", lines, skipped, lf)
		}
		_ = p.bw.Flush()
		if got, want := bytes.Count(src.out.Bytes(), []byte("-ERR line too long")), skipped; got != want {
			t.Fatalf("%d too-long answers for %d skipped lines", got, want)
		}
	})
}

type memConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)        { return c.out.Write(p) }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error        { return nil }
func (c *memConn) SetReadDeadline(time.Time) error    { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

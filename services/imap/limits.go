package imap

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// Limits enforced before imapserver parses a command. The library answers
// none of these cases correctly: a literal announced over 4 GB before
// login gets no reply at all (the client hangs), and a command line over
// its 50 KiB buffer or nested too deep answers NO [SERVERBUG] and then
// resets the connection. The limiter answers them itself, BAD or NO with a
// response code, and keeps the session.
const (
	maxCommandLine = 48 << 10 // below the library's 50 KiB
	maxNesting     = 64
)

// limitConn sits right under the front filter, above TLS (on 993 and,
// after STARTTLS, on 143 too: the front filter builds a new limitConn over
// the TLS conn), so the same limits hold on every port.
type limitConn struct {
	net.Conn
	lim     cmdLimiter
	wmu     sync.Mutex
	pending []byte // output for the library not yet read
	closing bool   // a reply that ends the session was written
}

func newLimitConn(c net.Conn, maxLiteral int64) *limitConn {
	return &limitConn{Conn: c, lim: cmdLimiter{maxLiteral: maxLiteral}}
}

// NetConn lets sessions.FromConn find the recording conn below.
func (c *limitConn) NetConn() net.Conn { return c.Conn }

func (c *limitConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(b)
}

func (c *limitConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for len(c.pending) == 0 {
		if c.closing {
			return 0, io.EOF
		}
		// Into the caller's buffer: feed copies what it passes on, and a
		// buffer of the conn's own was held by every idle connection
		// blocked here (32 KiB each, most of an idle session's memory).
		n, err := c.Conn.Read(b)
		if n > 0 {
			out, reply, bye := c.lim.feed(b[:n])
			c.pending = append(c.pending, out...)
			if len(reply) > 0 {
				c.wmu.Lock()
				_, werr := c.Conn.Write(reply)
				c.wmu.Unlock()
				if werr != nil {
					return 0, werr
				}
			}
			if bye {
				c.closing = true
			}
		}
		if err != nil {
			if len(c.pending) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return n, nil
}

// cmdLimiter follows the client's side of IMAP: command lines (whole, up
// to maxCommandLine) and the literals they announce (passed through
// untouched).
type cmdLimiter struct {
	maxLiteral int64
	line       []byte // the current line so far (without literal data)
	tag        []byte // tag of the command the line belongs to
	cont       bool   // the line continues a command after a literal
	lit        int64  // literal bytes still to pass through
	discard    bool   // dropping the rest of an over-long line
}

// feed takes bytes from the client and returns what the library may read,
// the replies the limiter sends itself, and whether the session must end.
func (l *cmdLimiter) feed(b []byte) (out, reply []byte, bye bool) {
	for i := 0; i < len(b); i++ {
		if l.lit > 0 {
			n := min(int64(len(b)-i), l.lit)
			out = append(out, b[i:i+int(n)]...)
			l.lit -= n
			i += int(n) - 1
			continue
		}
		c := b[i]
		if l.discard {
			if c == '\n' {
				l.discard = false
				reply = append(reply, l.bad("[LIMIT] command line longer than "+strconv.Itoa(maxCommandLine)+" bytes")...)
				l.reset()
			}
			continue
		}
		l.line = append(l.line, c)
		if c != '\n' {
			if len(l.line) > maxCommandLine {
				if !l.cont {
					l.tag = tagOf(l.line)
				}
				l.line = l.line[:0]
				l.discard = true
			}
			continue
		}
		o, r, end := l.endLine()
		out, reply = append(out, o...), append(reply, r...)
		if end {
			return out, reply, true
		}
	}
	return out, reply, false
}

// endLine checks a complete line.
func (l *cmdLimiter) endLine() (out, reply []byte, bye bool) {
	line := l.line
	if !l.cont {
		l.tag = tagOf(line)
	}
	if nestingOf(line) > maxNesting {
		reply = l.bad(fmt.Sprintf("[LIMIT] parentheses nested deeper than %d", maxNesting))
		l.reset()
		return nil, reply, false
	}
	n, nonSync, ok := literalAtEnd(line)
	if ok && (n < 0 || n > l.maxLiteral) {
		if nonSync {
			// Its data is already on the way: no way to stay in step.
			reply = []byte(fmt.Sprintf("* BYE [TOOBIG] literal over the limit of %d bytes\r\n", l.maxLiteral))
			return nil, reply, true
		}
		reply = []byte(fmt.Sprintf("%s NO [TOOBIG] literal over the limit of %d bytes\r\n", l.tag, l.maxLiteral))
		l.reset()
		return nil, reply, false
	}
	out = append([]byte(nil), line...)
	l.line = l.line[:0]
	if ok {
		l.lit, l.cont = n, true
	} else {
		l.cont = false
	}
	return out, nil, false
}

func (l *cmdLimiter) reset() {
	l.line, l.cont, l.lit = l.line[:0], false, 0
}

func (l *cmdLimiter) bad(text string) []byte {
	return []byte(fmt.Sprintf("%s BAD %s\r\n", l.tag, text))
}

// tagOf returns the tag of a command line, or "*" if it has none that can
// be echoed safely.
func tagOf(line []byte) []byte {
	end := bytes.IndexAny(line, " \r\n")
	if end <= 0 || end > 64 {
		return []byte("*")
	}
	for _, c := range line[:end] {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`(){%*"\]+`), c) >= 0 {
			return []byte("*")
		}
	}
	return append([]byte(nil), line[:end]...)
}

// nestingOf is the deepest parenthesis nesting of a line outside quoted
// strings.
func nestingOf(line []byte) int {
	depth, deepest, quoted := 0, 0, false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
			deepest = max(deepest, depth)
		case c == ')':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// maxLiteral is the largest literal a client may announce: the APPEND
// limit (the library refuses larger ones for APPEND, and any over 4 KiB
// elsewhere, once the limiter let the line through).
func (s *Service) maxLiteral() int64 {
	n := s.deps.Config.SMTP.MaxMessageBytes
	if n <= 0 || n > 1<<31 {
		n = 1 << 31
	}
	return int64(n)
}

package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// lineConn sits between the recording conn (or the implicit-TLS conn above
// it) and go-smtp. It hands the library one line per Read, which lets it
// follow the dialogue exactly (the library reads a line only after it has
// answered the previous one), and so it can:
//
//   - turn bare LF into CRLF, in commands and in DATA: go-smtp ends DATA only
//     at CRLF.CRLF, so "." typed in nc would otherwise never end the message;
//   - answer HELP, VRFY, BDAT, empty and unknown commands itself with clear
//     texts (the library answers HELP with 502, VRFY always with 252, and
//     disconnects after 3 unknown commands);
//   - rebuild command lines ("mail from:<a@b> " with a trailing space or
//     a tab is refused by the library's parser) and give RCPT TO:<postmaster>
//     the lab domain (RFC 5321 4.5.1; the library wants an @);
//   - do STARTTLS itself, so that the normalisation and the filters above
//     also apply to what is typed after STARTTLS (openssl s_client sends
//     bare LF); then it makes the library forget the transaction with a
//     hidden RSET and advertises STARTTLS in EHLO on the library's behalf;
//   - arm an idle timeout before every read from the client, instead of the
//     library's per-command deadline under which a whole DATA had to arrive
//     within one read_timeout.
type lineConn struct {
	raw net.Conn // what was accepted (recording conn, or TLS for 465)

	mu  sync.Mutex
	cur net.Conn // raw, or TLS over raw after STARTTLS

	br      *bufio.Reader
	pending []byte
	midLine bool // the last line handed on was cut (longer than the buffer)
	mode    int
	tls     bool
	ehlo    bool // the client greeted with EHLO (for Received: with ESMTP)

	tlsConfig *tls.Config // nil: STARTTLS not offered
	idle      time.Duration
	domain    string // for RCPT TO:<postmaster>
	vrfy      func(arg string) string

	unknown         int
	replyBuf        []byte // continuation lines of a multi-line reply
	swallow         bool   // drop the library's answer to the hidden RSET
	authed          bool   // a 235 went out: the client authenticated
	closeAfterWrite bool
	closed          bool
	// ready, when set, is the greeting's human text in server.language:
	// the library's first reply "220 DOMAIN ESMTP Service Ready" keeps its
	// code, domain and ESMTP keyword (clients read those) and gets it.
	// A go-smtp whose text differs keeps its English greeting, and
	// TestGreetingsFrench (internal/golden) fails.
	ready   string
	greeted bool
}

const (
	modeCommand = iota
	modeData
	modeSASL
)

const (
	lineBuffer     = 64 << 10
	maxUnknownCmds = 10
)

func newLineConn(c net.Conn, isTLS bool, tc *tls.Config, idle time.Duration, domain string, vrfy func(string) string) *lineConn {
	return &lineConn{raw: c, cur: c, br: bufio.NewReaderSize(c, lineBuffer), tls: isTLS, tlsConfig: tc, idle: idle, domain: domain, vrfy: vrfy}
}

func (c *lineConn) Read(p []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("smtp line filter panicked: %v", r)
		}
	}()
	for len(c.pending) == 0 {
		line, err := c.nextLine()
		if err != nil {
			return 0, err
		}
		if line != nil {
			c.pending = line
		}
	}
	n = copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// nextLine reads one line from the client and returns what the library
// should see of it (nil when the filter answered it itself).
func (c *lineConn) nextLine() ([]byte, error) {
	if c.closed {
		return nil, io.EOF
	}
	conn := c.current()
	if c.idle > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.midLine = true
		return bytes.Clone(line), nil
	}
	if err != nil {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			// Last line without a newline: hand it on; EOF comes next.
			return bytes.Clone(line), nil
		}
		return nil, err
	}
	wasMid := c.midLine
	c.midLine = false
	// All CRs before the LF go: "x\r\r\n" must not leave the library
	// mid-line while the filter thinks the line ended.
	body := bytes.TrimRight(line[:len(line)-1], "\r")
	out := make([]byte, 0, len(body)+2)
	out = append(append(out, body...), '\r', '\n')
	if wasMid {
		return out, nil
	}
	switch c.mode {
	case modeData:
		if len(body) == 1 && body[0] == '.' {
			c.mode = modeCommand
		}
		return out, nil
	case modeSASL:
		c.mode = modeCommand
		return out, nil
	}
	return c.command(string(body))
}

// knownVerbs are passed on to the library.
var knownVerbs = map[string]bool{
	"HELO": true, "EHLO": true, "MAIL": true, "RCPT": true, "DATA": true,
	"RSET": true, "NOOP": true, "QUIT": true, "AUTH": true, "EXPN": true,
}

func (c *lineConn) command(line string) ([]byte, error) {
	s := strings.TrimSpace(line)
	verb, arg, _ := strings.Cut(s, " ")
	if i := strings.IndexByte(verb, '\t'); i >= 0 {
		verb, arg = verb[:i], verb[i+1:]+" "+arg
	}
	verb = strings.ToUpper(verb)
	arg = strings.TrimSpace(arg)
	switch verb {
	case "":
		return nil, c.reply("500 5.5.2 Empty line: type a command, for example EHLO yourname (HELP lists them)")
	case "HELP":
		return nil, c.reply(helpText)
	case "VRFY":
		if arg == "" {
			return nil, c.reply("501 5.5.4 Syntax: VRFY <user> or VRFY <user@domain>")
		}
		return nil, c.reply(c.vrfy(arg))
	case "BDAT":
		return nil, c.reply("502 5.5.1 BDAT (CHUNKING) is not offered here: send the message with DATA")
	case "STARTTLS":
		return nil, c.startTLS(arg)
	case "HELO", "EHLO":
		c.ehlo = verb == "EHLO"
	case "RCPT":
		if strings.EqualFold(strings.ReplaceAll(arg, " ", ""), "TO:<postmaster>") && c.domain != "" {
			arg = "TO:<postmaster@" + c.domain + ">"
		}
	}
	if !knownVerbs[verb] {
		c.unknown++
		if c.unknown > maxUnknownCmds {
			_ = c.reply("421 4.7.0 Too many unrecognised commands, closing the connection")
			c.closeNow()
			return nil, io.EOF
		}
		shown := verb
		if len(shown) > 20 {
			shown = shown[:20] + "..."
		}
		return nil, c.reply(fmt.Sprintf("500 5.5.1 Unknown command %q: HELP lists the commands this server knows", shown))
	}
	if arg == "" {
		return []byte(verb + "\r\n"), nil
	}
	return []byte(verb + " " + arg + "\r\n"), nil
}

const helpText = "214-2.0.0 labd SMTP server. Commands, in the order of a mail transaction:\r\n" +
	"214-2.0.0   EHLO yourname        greet (HELO for plain SMTP)\r\n" +
	"214-2.0.0   AUTH PLAIN|LOGIN     log in (required on the submission ports 587 and 465)\r\n" +
	"214-2.0.0   STARTTLS             switch to TLS (ports 25 and 587)\r\n" +
	"214-2.0.0   MAIL FROM:<address>  the envelope sender\r\n" +
	"214-2.0.0   RCPT TO:<address>    one recipient (repeat for each)\r\n" +
	"214-2.0.0   DATA                 then the headers, an empty line, the body, and a line with only \".\"\r\n" +
	"214-2.0.0   RSET NOOP VRFY HELP QUIT\r\n" +
	"214 2.0.0 See RFC 5321"

// reply writes a response line (or lines) the filter produced itself.
func (c *lineConn) reply(s string) error {
	_, err := c.current().Write([]byte(s + "\r\n"))
	return err
}

func (c *lineConn) startTLS(arg string) error {
	switch {
	case arg != "":
		return c.reply("501 5.5.4 STARTTLS takes no argument")
	case c.tls:
		return c.reply("503 5.5.1 TLS is already active on this connection")
	case c.tlsConfig == nil:
		return c.reply("502 5.5.1 STARTTLS is not offered on this port")
	case c.authed:
		// RFC 3207: what was learnt before TLS must be forgotten; the
		// library cannot forget a login, so TLS after AUTH is refused.
		return c.reply("503 5.5.1 STARTTLS must come before AUTH: reconnect, then STARTTLS first")
	}
	// Anything the client sent after STARTTLS in clear is dropped: it must
	// not be taken as sent under TLS (CVE-2011-0411).
	if c.br.Buffered() > 0 {
		_, _ = c.br.Discard(c.br.Buffered())
	}
	if err := c.reply("220 2.0.0 Ready to start TLS"); err != nil {
		return err
	}
	tc := tls.Server(c.raw, c.tlsConfig)
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.closeNow()
		return io.EOF
	}
	_ = tc.SetDeadline(time.Time{})
	c.mu.Lock()
	c.cur = tc
	c.mu.Unlock()
	c.br = bufio.NewReaderSize(tc, lineBuffer)
	c.tls = true
	c.ehlo = false
	// RFC 3207: forget the transaction; the client greets again.
	c.pending = []byte("RSET\r\n")
	c.swallow = true
	return nil
}

func (c *lineConn) Write(p []byte) (int, error) {
	if c.swallow {
		c.swallow = false
		return len(p), nil
	}
	if !c.greeted {
		c.greeted = true
		if c.ready != "" && bytes.HasPrefix(p, []byte("220 ")) && bytes.HasSuffix(p, []byte(" ESMTP Service Ready\r\n")) {
			g := append(append([]byte(nil), bytes.TrimSuffix(p, []byte("Service Ready\r\n"))...), c.ready+"\r\n"...)
			if _, err := c.current().Write(g); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	switch {
	case bytes.HasPrefix(p, []byte("235 ")):
		c.authed = true
	case bytes.HasPrefix(p, []byte("354 ")):
		c.mode = modeData
	case bytes.HasPrefix(p, []byte("334 ")):
		c.mode = modeSASL
	case bytes.Equal(p, []byte("250-CHUNKING\r\n")):
		// BDAT chunks are counted in bytes: the line filter would break
		// them, so CHUNKING is not advertised.
		return len(p), nil
	case bytes.Equal(p, []byte("250-PIPELINING\r\n")) && c.tlsConfig != nil && !c.tls:
		c.replyBuf = append(c.replyBuf, "250-STARTTLS\r\n"...)
	}
	// go-smtp writes a multi-line reply line by line; clients such as
	// sslscan --starttls-smtp read the EHLO reply with one read and miss
	// what comes later (STARTTLS). The lines go out in one write.
	if len(p) >= 4 && p[3] == '-' && bytes.HasSuffix(p, []byte("\n")) && len(c.replyBuf) < 64<<10 {
		c.replyBuf = append(c.replyBuf, p...)
		return len(p), nil
	}
	if len(c.replyBuf) > 0 {
		all := append(c.replyBuf, p...)
		c.replyBuf = nil
		if _, err := c.current().Write(all); err != nil {
			return 0, err
		}
		if c.closeAfterWrite {
			c.closeNow()
		}
		return len(p), nil
	}
	n, err := c.current().Write(p)
	if c.closeAfterWrite {
		c.closeNow()
	}
	return n, err
}

func (c *lineConn) current() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (c *lineConn) closeNow() {
	c.closed = true
	_ = c.current().Close()
}

func (c *lineConn) Close() error                       { return c.current().Close() }
func (c *lineConn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *lineConn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *lineConn) SetDeadline(t time.Time) error      { return c.current().SetWriteDeadline(t) }
func (c *lineConn) SetReadDeadline(t time.Time) error  { return nil } // idle timeout is ours
func (c *lineConn) SetWriteDeadline(t time.Time) error { return c.current().SetWriteDeadline(t) }

// NetConn lets sessions.FromConn find the recording conn.
func (c *lineConn) NetConn() net.Conn { return c.current() }

// listener wraps accepted connections in a lineConn.
type listener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
	// refuse, if set, answers and closes a connection a fault refuses.
	refuse func(net.Conn) bool
}

func (l listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.refuse != nil && l.refuse(c) {
			continue
		}
		return l.wrap(c), nil
	}
}

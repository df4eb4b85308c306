package imap

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"labd/internal/netconn"
)

// frontConn is a line filter in front of imapserver for what the library
// answers wrongly on plaintext connections (see docs/imap.md):
//
//   - a line with only a tag: the library closes the connection silently;
//     here it gets BAD and the session goes on;
//   - the first unknown commands before login: the library answers BYE at
//     once (cross-protocol protection); a student typing by hand gets BAD
//     and a hint for the first few, then the library's BYE;
//   - syntax errors in message sets (FETCH 0, FETCH 1:x) and SEARCH keys
//     (SEARCH FOO, SEARCH SINCE 2024-01-01): the library answers
//     NO [SERVERBUG]; here BAD [CLIENTBUG] with what is wrong;
//   - ENABLE IMAP4rev2: the library enables it though CAPABILITY does not
//     advertise it; the token is removed from the command;
//   - a non-synchronizing literal over 4096 bytes (LITERAL-, RFC 7888):
//     the library answers BAD and then reads the literal's data as
//     commands; here the whole command is discarded and answered BAD [TOOBIG];
//   - STARTTLS: the library would wrap its connection (this filter) in TLS
//     itself, leaving the filter under TLS with only ciphertext to see.
//     The filter answers STARTTLS itself and puts TLS under itself (and
//     a new command limiter over TLS), so every fix here holds on 143
//     before and after STARTTLS and on 993 alike. Whatever the client
//     sent after the STARTTLS line in clear text is discarded (command
//     injection, RFC 3207 / CVE-2011-0411).
//
// It always sits above TLS and the command limiter: it sees plaintext.
//
// Replies of its own are written only at the start of a Read call with
// nothing left for the library: the library reads more only once it has
// answered every command it was given, so replies stay in order.
type frontConn struct {
	lmu   sync.Mutex
	lower net.Conn // the command limiter, over TLS once encrypted

	// plain is the connection under the limiter before any STARTTLS, where
	// TLS goes; tlsConf is nil when TLS is not configured (or on 993).
	plain      net.Conn
	tlsConf    *tls.Config
	maxLiteral int64

	authed atomic.Bool // set by the session on a successful login

	// overTLS: on 993 or after STARTTLS the library sees no *tls.Conn and
	// would offer STARTTLS; the filter removes it from CAPABILITY and
	// refuses the command. requireTLS: on plaintext 143 with
	// imap.require_tls_for_auth, the filter advertises LOGINDISABLED in
	// place of AUTH=PLAIN (the session refuses the login itself).
	overTLS    atomic.Bool
	requireTLS bool

	wmu sync.Mutex // serialises writes (the library's and ours)
	// ready, when set, is the greeting's human text in server.language:
	// the library's "* OK [CAPABILITY ...] IMAP server ready" keeps its
	// status and code (clients parse them) and gets this text. A go-imap
	// whose text differs keeps its English greeting, and
	// TestGreetingsFrench (internal/golden) fails.
	ready   string
	greeted bool          // under wmu
	env     envelopeFixer // ENVELOPE address lists without spaces (envelope.go)
	// libGreeting, under wmu, is the library's greeting when the
	// preGreeter wrote it already: the library's own write of it is
	// dropped.
	libGreeting []byte

	mu      sync.Mutex
	in      []byte    // read from the client, not yet classified
	out     []segment // classified, for the library or answered here
	state   int       // see the front* constants
	lit     int64     // bytes of literal left (frontLiteral)
	tail    []byte    // end of the current line, to spot a literal
	drop    bool      // the command in progress is being discarded
	unknown int       // unknown commands answered BAD before login
	rawNext int       // lines to pass unexamined (IDLE's DONE, SASL)

	// stop, if set, ends the connection between two commands when labd
	// stops (idlestop.go). waiting: Read is blocked at the start of a
	// command; the stop clears it when it wakes that Read, which then
	// drops what it read (idleStop.stop). greeting: on 993, until the
	// library first reads (its greeting may wait in the TLS handshake).
	stop     *idleStop
	waiting  atomic.Bool
	greeting atomic.Bool
}

const (
	frontStart   = iota // at the start of a command
	frontLine           // inside a command, passing
	frontLiteral        // inside a literal's data
)

// maxFirstLine is how much of a command's first line is examined; longer
// lines are handed to the library unexamined.
const maxFirstLine = 8192

// maxHintedUnknown is how many unknown commands before login get a hint
// instead of the library's BYE.
const maxHintedUnknown = 3

type segment struct {
	data     []byte
	reply    string // a whole reply line to write instead (data is nil)
	startTLS bool   // after writing reply, start TLS
}

// frontListener puts a command limiter and a frontConn in front of every
// connection.
type frontListener struct {
	net.Listener
	overTLS    bool        // 993: accepted conns are TLS, the filter sees plaintext
	requireTLS bool        // imap.require_tls_for_auth (plaintext 143)
	tlsConf    *tls.Config // for STARTTLS (plaintext 143), nil if none
	maxLiteral int64       // see cmdLimiter
	ready      string      // the greeting's human text (frontConn.ready)
	// pre, if set, greets connections before the library gets them
	// (plaintext 143 only, see preGreeter).
	pre *preGreeter
	// stop, if set, ends the library's connections between two commands
	// when labd stops.
	stop *idleStop
}

func (l *frontListener) Accept() (net.Conn, error) {
	if l.pre != nil {
		return l.pre.accept(l)
	}
	return l.acceptFront()
}

func (l *frontListener) acceptFront() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	f := newFrontConn(c, l.overTLS, l.requireTLS, l.tlsConf, l.maxLiteral)
	f.ready = l.ready
	if l.stop != nil {
		f.stop = l.stop
		f.greeting.Store(l.overTLS)
		l.stop.add(f)
	}
	return f, nil
}

func newFrontConn(c net.Conn, overTLS, requireTLS bool, tlsConf *tls.Config, maxLiteral int64) *frontConn {
	f := &frontConn{lower: newLimitConn(c, maxLiteral), plain: c, requireTLS: requireTLS, maxLiteral: maxLiteral}
	if !overTLS {
		f.tlsConf = tlsConf
	}
	f.overTLS.Store(overTLS)
	return f
}

// conn is the connection under the filter (it changes at STARTTLS).
func (c *frontConn) conn() net.Conn {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	return c.lower
}

// NetConn lets sessions.FromConn find the recording conn below.
func (c *frontConn) NetConn() net.Conn { return c.conn() }
func (c *frontConn) Close() error {
	if c.stop != nil {
		c.stop.remove(c)
	}
	return c.conn().Close()
}
func (c *frontConn) LocalAddr() net.Addr                { return c.conn().LocalAddr() }
func (c *frontConn) RemoteAddr() net.Addr               { return c.conn().RemoteAddr() }
func (c *frontConn) SetDeadline(t time.Time) error      { return c.conn().SetDeadline(t) }
func (c *frontConn) SetReadDeadline(t time.Time) error  { return c.conn().SetReadDeadline(t) }
func (c *frontConn) SetWriteDeadline(t time.Time) error { return c.conn().SetWriteDeadline(t) }

// startTLS puts TLS under the filter, once the client was told to begin
// the handshake; the handshake itself runs at the first read or write.
// Plaintext the client pipelined after STARTTLS is dropped.
func (c *frontConn) startTLS() {
	c.in, c.out, c.state, c.tail, c.drop, c.rawNext = nil, nil, frontStart, c.tail[:0], false, 0
	c.overTLS.Store(true)
	c.lmu.Lock()
	c.lower = newLimitConn(tls.Server(c.plain, c.tlsConf), c.maxLiteral)
	c.lmu.Unlock()
}

// findFront returns the frontConn under nc, if any.
func findFront(nc net.Conn) *frontConn {
	f, _ := netconn.Find[*frontConn](nc)
	return f
}

// greetFirst writes the library's greeting g (as the library would,
// through Write) before the library has the connection, and has Write drop
// the library's own when it comes.
func (c *frontConn) greetFirst(g []byte) error {
	if _, err := c.Write(g); err != nil {
		return err
	}
	c.wmu.Lock()
	c.libGreeting = g
	c.wmu.Unlock()
	return nil
}

// Write fixes ENVELOPE address lists and CAPABILITY.
func (c *frontConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if g := c.libGreeting; g != nil {
		c.libGreeting = nil
		if bytes.Equal(p, g) {
			return len(p), nil // the client has it already
		}
		// Not the greeting (a library that greets each connection
		// differently?): the client gets both.
	}
	if c.greeted && c.env.literal(p) {
		// A message's bytes: nothing to fix, and a CAPABILITY inside a
		// message is not one to rewrite.
		if _, err := c.conn().Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	out := c.env.fix(p)
	if !c.greeted {
		c.greeted = true
		if c.ready != "" && bytes.HasPrefix(out, []byte("* OK ")) && bytes.HasSuffix(out, []byte(" IMAP server ready\r\n")) {
			out = append(append([]byte(nil), bytes.TrimSuffix(out, []byte("IMAP server ready\r\n"))...), c.ready+"\r\n"...)
		}
	}
	if bytes.HasPrefix(out, []byte("* CAPABILITY ")) || bytes.Contains(out, []byte("[CAPABILITY ")) {
		if c.overTLS.Load() {
			out = bytes.Replace(out, []byte(" STARTTLS"), nil, 1)
		} else if c.requireTLS {
			out = bytes.Replace(out, []byte(" AUTH=PLAIN"), []byte(" LOGINDISABLED"), 1)
		}
	}
	if _, err := c.conn().Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeReply writes one of the filter's own replies, with the library's
// 30 s response deadline (a client that does not read cannot hold the
// session forever).
func (c *frontConn) writeReply(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	lower := c.conn()
	_ = lower.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := lower.Write([]byte(s))
	_ = lower.SetWriteDeadline(time.Time{})
	return err
}

func (c *frontConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		// A reply at the head: everything before it has been read and
		// answered by the library, which now asks for more.
		for len(c.out) > 0 && c.out[0].data == nil {
			if err := c.writeReply(c.out[0].reply); err != nil {
				return 0, err
			}
			if c.out[0].startTLS {
				c.startTLS()
				break
			}
			c.out = c.out[1:]
		}
		if len(c.out) > 0 {
			n := copy(b, c.out[0].data)
			c.out[0].data = c.out[0].data[n:]
			if len(c.out[0].data) == 0 {
				c.out = c.out[1:]
			}
			return n, nil
		}
		if len(c.in) > 0 && c.process() {
			continue
		}
		// Into the caller's buffer (the library's 4 KiB reader) when it
		// is big enough: a buffer allocated here was held by every idle
		// connection for as long as it waited.
		buf := b
		if len(buf) < 4096 {
			buf = make([]byte, 4096)
		}
		watched := c.stop != nil && c.atCommandStart()
		if watched {
			if c.greeting.Load() {
				c.greeting.Store(false)
			}
			c.waiting.Store(true)
			if c.stop.stopping.Load() {
				c.waiting.Store(false)
				return c.byeStoppingConn()
			}
		}
		lower := c.conn()
		c.mu.Unlock()
		n, err := lower.Read(buf)
		c.mu.Lock()
		if watched && !c.waiting.CompareAndSwap(true, false) {
			return c.byeStoppingConn() // woken by the stop
		}
		c.in = append(c.in, buf[:n]...)
		if n > 0 {
			continue
		}
		if err != nil {
			if len(c.in) > 0 {
				// An incomplete last line: hand it over as it is.
				c.out = append(c.out, segment{data: c.in})
				c.in = nil
				continue
			}
			return 0, err
		}
	}
}

func (c *frontConn) emit(data []byte) {
	if c.drop || len(data) == 0 {
		return
	}
	c.out = append(c.out, segment{data: append([]byte(nil), data...)})
}

func (c *frontConn) reply(s string) { c.out = append(c.out, segment{reply: s}) }

// process classifies what it can of c.in; it reports whether it made
// progress (false: more input is needed).
func (c *frontConn) process() bool {
	progress := false
	for len(c.in) > 0 && !c.tlsNext() {
		switch c.state {
		case frontLiteral:
			n := min(int64(len(c.in)), c.lit)
			c.emit(c.in[:n])
			c.in = c.in[n:]
			c.lit -= n
			if c.lit == 0 {
				c.state = frontLine
			}
			progress = true
		case frontLine:
			i := bytes.IndexByte(c.in, '\n')
			if i < 0 {
				c.emit(c.in)
				c.keepTail(c.in)
				c.in = c.in[:0]
				return true
			}
			c.keepTail(c.in[:i])
			c.emit(c.in[:i+1])
			c.in = c.in[i+1:]
			c.endOfLine()
			progress = true
		case frontStart:
			i := bytes.IndexByte(c.in, '\n')
			if i < 0 {
				if len(c.in) < maxFirstLine {
					return progress
				}
				c.state = frontLine // too long to examine
				continue
			}
			line := c.in[:i+1]
			c.in = c.in[i+1:]
			c.command(line)
			progress = true
		}
	}
	return progress
}

// keepTail remembers the last bytes of a line, where a literal's {n} is.
func (c *frontConn) keepTail(b []byte) {
	c.tail = append(c.tail, b...)
	if len(c.tail) > 32 {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-32:]...)
	}
}

// tlsNext reports a STARTTLS answered and not yet done: what follows in
// clear text is not examined (it will be dropped).
func (c *frontConn) tlsNext() bool {
	return len(c.out) > 0 && c.out[len(c.out)-1].startTLS
}

// endOfLine follows a line that ended: a literal continues the command.
func (c *frontConn) endOfLine() {
	n, _, ok := literalAtEnd(c.tail)
	c.tail = c.tail[:0]
	if ok && n >= 0 {
		c.state, c.lit = frontLiteral, n
		if n == 0 {
			c.state = frontLine
		}
		return
	}
	c.state = frontStart
	if c.drop {
		c.drop = false
	}
}

// command examines the first line of a command (with its line end).
func (c *frontConn) command(line []byte) {
	text := strings.TrimRight(string(line), "\r\n")
	pass := func() {
		c.emit(line)
		c.keepTail([]byte(text))
		c.endOfLine()
	}
	if c.rawNext > 0 {
		c.rawNext--
		pass()
		return
	}
	if strings.TrimSpace(text) == "" {
		return // an empty line (Enter pressed twice): nothing to answer
	}
	tag, rest, hasCmd := strings.Cut(text, " ")
	if !validTag(tag) {
		tag = "*"
	}
	if n, nonSync, ok := literalAtEnd([]byte(text)); ok && nonSync && (n > 4096 || n < 0) {
		// Discard the whole command, literal data included.
		c.reply(tag + " BAD [TOOBIG] Non-synchronizing literals are limited to 4096 bytes (LITERAL-): send {" +
			itoa(n) + "} and wait for the \"+\" continuation\r\n")
		c.drop = true
		c.keepTail([]byte(text))
		c.endOfLine()
		return
	}
	if !hasCmd || strings.TrimSpace(rest) == "" {
		c.reply(tag + ` BAD [CLIENTBUG] Missing command: a line is a tag, a space and a command, e.g. "a1 CAPABILITY"` + "\r\n")
		return
	}
	name, args, _ := strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	if name == "UID" {
		var sub string
		sub, args, _ = strings.Cut(args, " ")
		name = "UID " + strings.ToUpper(sub)
	}
	if !c.authed.Load() && !knownCommands[name] {
		if c.unknown < maxHintedUnknown {
			c.unknown++
			c.reply(tag + ` BAD Unknown command "` + printable(name) + `". Before login: CAPABILITY, STARTTLS, LOGIN user password, AUTHENTICATE PLAIN, LOGOUT` + "\r\n")
			return
		}
		pass()
		return
	}
	switch name {
	case "STARTTLS":
		if c.overTLS.Load() {
			c.reply(tag + " BAD STARTTLS: this connection is already TLS\r\n")
			return
		}
		if c.tlsConf != nil && !c.authed.Load() && strings.TrimSpace(args) == "" {
			c.out = append(c.out, segment{reply: tag + " OK Begin TLS negotiation now\r\n", startTLS: true})
			return
		}
		// Otherwise the library answers (BAD after login or with
		// arguments, NO without TLS).
	case "IDLE":
		c.rawNext = 1 // DONE
	case "AUTHENTICATE":
		if !strings.Contains(strings.TrimSpace(args), " ") {
			c.rawNext = 1 // the SASL response, or "*"
		}
	case "ENABLE":
		var keep []string
		for _, f := range strings.Fields(args) {
			if !strings.EqualFold(f, "IMAP4rev2") {
				keep = append(keep, f)
			}
		}
		nl := strings.TrimPrefix(string(line), strings.TrimRight(string(line), "\r\n"))
		line = []byte(strings.TrimSpace(tag+" "+strings.Join(append([]string{"ENABLE"}, keep...), " ")) + nl)
	case "FETCH", "UID FETCH", "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE":
		set, _, _ := strings.Cut(args, " ")
		if msg := checkSet(set); msg != "" {
			c.reply(tag + " BAD [CLIENTBUG] " + msg + "\r\n")
			return
		}
	case "SEARCH", "UID SEARCH":
		if _, _, lit := literalAtEnd([]byte(text)); !lit {
			if msg := checkSearch(args); msg != "" {
				c.reply(tag + " BAD [CLIENTBUG] " + msg + "\r\n")
				return
			}
		}
	}
	pass()
}

// knownCommands are the commands imapserver implements; any other one
// before login makes it answer BYE.
var knownCommands = map[string]bool{}

func init() {
	for _, n := range strings.Fields("NOOP CHECK LOGOUT CAPABILITY STARTTLS AUTHENTICATE UNAUTHENTICATE LOGIN ENABLE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE STATUS LIST LSUB NAMESPACE IDLE SELECT EXAMINE CLOSE UNSELECT APPEND FETCH EXPUNGE STORE COPY MOVE SEARCH") {
		knownCommands[n] = true
	}
	for _, n := range strings.Fields("FETCH EXPUNGE STORE COPY MOVE SEARCH") {
		knownCommands["UID "+n] = true
	}
}

func validTag(tag string) bool {
	if tag == "" {
		return false
	}
	for i := 0; i < len(tag); i++ {
		ch := tag[i]
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte(`(){%*"\+`, ch) >= 0 {
			return false
		}
	}
	return true
}

// printable keeps a client's word safe to echo in a reply.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r >= 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s)
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

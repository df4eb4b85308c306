package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
)

const (
	maxLine    = 1024 // RFC 2449 says 255 for commands; AUTH responses may be longer
	readBuffer = 4096
)

type state int

const (
	stateAuth state = iota
	stateTrans
)

type message struct {
	uid     uint32
	size    int64
	deleted bool
}

type conn struct {
	s    *Service
	raw  net.Conn // accepted conn (recording, or TLS above it on 995)
	c    net.Conn // raw, or TLS above raw after STLS
	br   *bufio.Reader
	bw   *bufio.Writer
	tls  bool
	sess *sessions.Session
	log  *slog.Logger

	state    state
	userArg  string // from USER
	user     string // logged in, maildrop locked
	fails    int
	mbID     int64
	validity uint32
	msgs     []message
	quit     bool
}

var errQuit = errors.New("quit")

func (s *Service) handle(c net.Conn, implicitTLS bool) {
	defer service.Recover(s.log, "pop3", "remote", c.RemoteAddr().String())
	p := &conn{s: s, raw: c, c: c, br: bufio.NewReaderSize(c, readBuffer), bw: bufio.NewWriter(c), tls: implicitTLS,
		sess: sessions.FromConn(c), log: s.log.With("remote", c.RemoteAddr().String())}
	defer func() {
		if p.user != "" {
			s.unlock(p.user)
		}
		c.Close()
	}()
	if implicitTLS {
		if tc, ok := c.(*tls.Conn); ok {
			_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
			if err := tc.Handshake(); err != nil {
				p.log.Debug("TLS handshake failed", "err", err)
				return
			}
			_ = tc.SetDeadline(time.Time{})
		}
	}
	p.ok(s.tr.ASCII("labd POP3 server ready (type CAPA for the capabilities, USER name then PASS password to log in)"))
	for !p.quit {
		line, err := p.readLine()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = p.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				p.err(fmt.Sprintf("idle for %s, closing the connection (no message was deleted)", s.cfg.IdleTimeout.D()))
				p.bw.Flush()
			}
			return
		}
		if line == nil {
			continue // already answered (line too long)
		}
		if err := p.command(string(line)); err != nil {
			p.bw.Flush()
			return
		}
	}
	p.bw.Flush()
}

// readLine returns the next command line without its line end (CRLF or a
// bare LF). A line too long is answered and skipped (nil, nil).
func (p *conn) readLine() ([]byte, error) {
	if d := p.s.cfg.IdleTimeout.D(); d > 0 {
		// The write deadline too: a client that stops reading in the
		// middle of a RETR must not hold the maildrop lock for ever.
		_ = p.c.SetDeadline(time.Now().Add(d))
	}
	if p.br.Buffered() == 0 {
		if err := p.bw.Flush(); err != nil {
			return nil, err
		}
	}
	line, err := p.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || (err == nil && len(line) > maxLine) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = p.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		p.err(fmt.Sprintf("line too long (at most %d octets)", maxLine))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (p *conn) ok(text string) { fmt.Fprintf(p.bw, "+OK %s\r\n", text) }

func (p *conn) err(text string) { fmt.Fprintf(p.bw, "-ERR %s\r\n", text) }

// end terminates a multi-line response.
func (p *conn) end() { p.bw.WriteString(".\r\n") }

func (p *conn) command(line string) error {
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	verb = strings.ToUpper(verb)
	arg = strings.TrimSpace(arg)
	if verb == "PASS" || verb == "AUTH" {
		p.log.Debug("command", "verb", verb) // never log passwords
	} else {
		p.log.Debug("command", "verb", verb, "arg", arg)
	}
	switch verb {
	case "":
		p.err("empty command: type CAPA, USER name, PASS password, STAT, LIST, RETR n, DELE n, QUIT...")
		return nil
	case "CAPA":
		p.capa()
		return nil
	case "QUIT":
		return p.quitCmd()
	case "NOOP":
		if p.state != stateTrans {
			p.err("NOOP is only valid after login (USER/PASS)")
			return nil
		}
		p.ok("")
		return nil
	}
	if p.state == stateAuth {
		switch verb {
		case "USER":
			return p.userCmd(arg)
		case "PASS":
			return p.passCmd(arg)
		case "AUTH":
			return p.authCmd(arg)
		case "STLS":
			return p.stls(arg)
		case "APOP":
			p.err("APOP is not supported here: use USER and PASS, or AUTH PLAIN")
			return nil
		case "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL":
			p.err(fmt.Sprintf("%s is only valid after login: first USER name, then PASS password", verb))
			return nil
		}
		p.err(fmt.Sprintf("unknown command %q: before login use CAPA, USER, PASS, AUTH PLAIN, STLS or QUIT", clip(verb)))
		return nil
	}
	if _, ok := p.fault("bye", ""); ok {
		p.err("[SYS/TEMP] the server closes the connection now; no message was deleted, log in again")
		return errQuit
	}
	switch verb {
	case "STAT":
		n, size := p.count()
		p.ok(fmt.Sprintf("%d %d", n, size))
	case "LIST":
		p.list(arg)
	case "UIDL":
		p.uidl(arg)
	case "RETR":
		p.retr(arg)
	case "TOP":
		p.top(arg)
	case "DELE":
		p.dele(arg)
	case "RSET":
		for i := range p.msgs {
			p.msgs[i].deleted = false
		}
		n, size := p.count()
		p.ok(fmt.Sprintf("maildrop has %d messages (%d octets), nothing will be deleted", n, size))
	case "USER", "PASS", "AUTH", "APOP":
		p.err("already logged in as " + p.user)
	case "STLS":
		p.err("STLS is only valid before login")
	default:
		p.err(fmt.Sprintf("unknown command %q: use STAT, LIST [n], UIDL [n], RETR n, TOP n lines, DELE n, RSET, NOOP or QUIT", clip(verb)))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

func (p *conn) capa() {
	p.ok("Capability list follows")
	p.bw.WriteString("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n")
	if p.state == stateAuth {
		if p.authAllowed() {
			p.bw.WriteString("USER\r\nSASL PLAIN\r\n")
		}
		if !p.tls {
			p.bw.WriteString("STLS\r\n")
		}
	}
	p.bw.WriteString("IMPLEMENTATION labd\r\n")
	p.end()
}

func (p *conn) authAllowed() bool { return p.tls || !p.s.cfg.RequireTLSForAuth }

func (p *conn) stls(arg string) error {
	switch {
	case arg != "":
		p.err("STLS takes no argument")
		return nil
	case p.tls:
		p.err("TLS is already active on this connection")
		return nil
	}
	p.ok("Begin TLS negotiation")
	if err := p.bw.Flush(); err != nil {
		return err
	}
	// Commands sent in clear after STLS are dropped (CVE-2011-0411).
	tc := tls.Server(p.raw, p.s.deps.TLS.Config())
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		p.log.Debug("STLS handshake failed", "err", err)
		return err
	}
	_ = tc.SetDeadline(time.Time{})
	p.c, p.tls = tc, true
	p.br = bufio.NewReaderSize(tc, readBuffer)
	p.bw = bufio.NewWriter(tc)
	p.userArg = ""
	return nil
}

func (p *conn) userCmd(arg string) error {
	if !p.authAllowed() {
		p.err("[AUTH] logging in over plain text is disabled here: send STLS first (pop3.require_tls_for_auth)")
		return nil
	}
	if arg == "" {
		p.err("USER needs a name: USER alice")
		return nil
	}
	p.userArg = arg
	p.ok(fmt.Sprintf("now send the password of %s with PASS", arg))
	return nil
}

func (p *conn) passCmd(arg string) error {
	if p.userArg == "" {
		p.err("send USER name first, then PASS password")
		return nil
	}
	user := p.userArg
	p.userArg = ""
	return p.login(user, arg)
}

func (p *conn) authCmd(arg string) error {
	if arg == "" {
		p.ok("SASL mechanisms follow")
		p.bw.WriteString("PLAIN\r\n")
		p.end()
		return nil
	}
	if !p.authAllowed() {
		p.err("[AUTH] logging in over plain text is disabled here: send STLS first (pop3.require_tls_for_auth)")
		return nil
	}
	mech, ir, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		p.err(fmt.Sprintf("unsupported SASL mechanism %q: use PLAIN", clip(mech)))
		return nil
	}
	ir = strings.TrimSpace(ir)
	if ir == "" {
		p.bw.WriteString("+ \r\n")
		line, err := p.readLine()
		if err != nil {
			return err
		}
		if line == nil {
			return nil
		}
		ir = strings.TrimSpace(string(line))
		if ir == "*" {
			p.err("AUTH cancelled")
			return nil
		}
	}
	if ir == "=" {
		ir = ""
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		p.err("[AUTH] the AUTH PLAIN response is not valid base64")
		return nil
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		p.err("[AUTH] AUTH PLAIN wants base64 of authzid NUL user NUL password")
		return nil
	}
	if parts[0] != "" && parts[0] != parts[1] {
		p.err("[AUTH] the authorisation identity must be empty or the user name")
		return nil
	}
	return p.login(parts[1], parts[2])
}

func (p *conn) login(user, pass string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, ok := p.fault("unavailable", user); ok {
		p.err("[SYS/TEMP] the server cannot open maildrops right now, try again later")
		return nil
	}
	u, err := p.s.deps.Guard.Authenticate(ctx, "pop3", p.raw.RemoteAddr().String(), user, pass)
	if err != nil {
		if !errors.Is(err, store.ErrAuthFailed) {
			p.log.Error("authentication error", "user", user, "err", err)
			p.err("[SYS/TEMP] cannot check passwords right now, try again")
			return nil
		}
		p.fails++
		p.log.Info("login failed", "user", user, "failures", p.fails)
		if p.sess != nil {
			p.sess.Notef("login failed for %q", user)
		}
		time.Sleep(p.s.AuthFailDelay)
		if p.fails >= p.s.MaxAuthFailures {
			p.err("[AUTH] wrong user name or password; too many failures, closing the connection")
			return errQuit
		}
		p.err("[AUTH] wrong user name or password")
		return nil
	}
	if _, ok := p.fault("inuse", u.Name); ok {
		p.err(fmt.Sprintf("[IN-USE] the maildrop of %s is in use, try again later", u.Name))
		return nil
	}
	if !p.s.lock(u.Name) {
		p.log.Info("maildrop in use", "user", u.Name)
		p.err(fmt.Sprintf("[IN-USE] the maildrop of %s is already open in another POP3 session; QUIT it first", u.Name))
		return nil
	}
	p.user = u.Name
	if err := p.snapshot(ctx); err != nil {
		p.s.unlock(u.Name)
		p.user = ""
		p.log.Error("cannot open maildrop", "user", u.Name, "err", err)
		p.err("[SYS/TEMP] cannot open the maildrop, try again")
		return nil
	}
	p.state = stateTrans
	p.log = p.log.With("user", u.Name)
	if p.sess != nil {
		p.sess.SetUser(u.Name)
	}
	p.log.Info("logged in", "messages", len(p.msgs))
	n, size := p.count()
	p.ok(fmt.Sprintf("%s's maildrop has %d messages (%d octets)", u.Name, n, size))
	return nil
}

// snapshot fixes the message numbers of the session: messages delivered
// later are seen at the next login.
func (p *conn) snapshot(ctx context.Context) error {
	mb, err := p.s.deps.Store.Mailbox(ctx, p.user, "INBOX")
	if err != nil {
		return err
	}
	list, err := p.s.deps.Store.Messages(ctx, mb.ID)
	if err != nil {
		return err
	}
	p.mbID, p.validity = mb.ID, mb.UIDValidity
	p.msgs = make([]message, len(list))
	for i, m := range list {
		p.msgs[i] = message{uid: m.UID, size: m.Size}
	}
	return nil
}

func (p *conn) count() (n int, size int64) {
	for _, m := range p.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// msg parses a message number; it answers -ERR itself when it fails.
func (p *conn) msg(arg string) (int, bool) {
	if arg == "" {
		p.err("a message number is required (1 to " + strconv.Itoa(len(p.msgs)) + ")")
		return 0, false
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(p.msgs) {
		p.err(fmt.Sprintf("no such message %q: the maildrop has messages 1 to %d", clip(arg), len(p.msgs)))
		return 0, false
	}
	if p.msgs[n-1].deleted {
		p.err(fmt.Sprintf("message %d is marked deleted (RSET undeletes)", n))
		return 0, false
	}
	return n, true
}

func (p *conn) list(arg string) {
	if arg != "" {
		if n, ok := p.msg(arg); ok {
			p.ok(fmt.Sprintf("%d %d", n, p.msgs[n-1].size))
		}
		return
	}
	n, size := p.count()
	p.ok(fmt.Sprintf("%d messages (%d octets)", n, size))
	for i, m := range p.msgs {
		if !m.deleted {
			fmt.Fprintf(p.bw, "%d %d\r\n", i+1, m.size)
		}
	}
	p.end()
}

func (p *conn) uidOf(i int) string { return fmt.Sprintf("%d.%d", p.validity, p.msgs[i].uid) }

func (p *conn) uidl(arg string) {
	if arg != "" {
		if n, ok := p.msg(arg); ok {
			p.ok(fmt.Sprintf("%d %s", n, p.uidOf(n-1)))
		}
		return
	}
	p.ok("unique-id listing follows")
	for i, m := range p.msgs {
		if !m.deleted {
			fmt.Fprintf(p.bw, "%d %s\r\n", i+1, p.uidOf(i))
		}
	}
	p.end()
}

func (p *conn) body(n int) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := p.s.deps.Store.Body(ctx, p.mbID, p.msgs[n-1].uid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			p.err(fmt.Sprintf("message %d no longer exists (another client, IMAP perhaps, deleted it)", n))
		} else {
			p.log.Error("cannot read message", "uid", p.msgs[n-1].uid, "err", err)
			p.err("[SYS/TEMP] cannot read the message, try again")
		}
		return nil, false
	}
	return b, true
}

func (p *conn) retr(arg string) {
	n, ok := p.msg(arg)
	if !ok {
		return
	}
	b, ok := p.body(n)
	if !ok {
		return
	}
	p.ok(fmt.Sprintf("%d octets", len(b)))
	writeStuffed(p.bw, b, -1)
	p.end()
	// Like most servers, a retrieved message counts as read for IMAP.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.s.deps.Store.StoreFlags(ctx, p.mbID, []uint32{p.msgs[n-1].uid}, store.FlagsAdd, []string{`\Seen`}); err != nil && !errors.Is(err, store.ErrNotFound) {
		p.log.Warn("cannot set \\Seen", "uid", p.msgs[n-1].uid, "err", err)
	}
}

func (p *conn) top(arg string) {
	num, lines, _ := strings.Cut(arg, " ")
	lines = strings.TrimSpace(lines)
	m, err := strconv.Atoi(lines)
	if lines == "" || err != nil || m < 0 {
		p.err("usage: TOP message-number lines (TOP 1 0 shows the headers only)")
		return
	}
	n, ok := p.msg(num)
	if !ok {
		return
	}
	b, ok := p.body(n)
	if !ok {
		return
	}
	p.ok(fmt.Sprintf("headers and %d body lines follow", m))
	writeStuffed(p.bw, b, m)
	p.end()
}

func (p *conn) dele(arg string) {
	n, ok := p.msg(arg)
	if !ok {
		return
	}
	p.msgs[n-1].deleted = true
	p.ok(fmt.Sprintf("message %d marked deleted (removed at QUIT; RSET undoes)", n))
}

// release frees the maildrop before the final answer, so that a client
// that reconnects the moment it reads +OK is not told [IN-USE].
func (p *conn) release() {
	if p.user != "" {
		p.s.unlock(p.user)
		p.user = ""
	}
}

func (p *conn) quitCmd() error {
	p.quit = true
	if p.state != stateTrans {
		p.ok("labd POP3 server signing off")
		return errQuit
	}
	var uids []uint32
	for _, m := range p.msgs {
		if m.deleted {
			uids = append(uids, m.uid)
		}
	}
	if len(uids) == 0 {
		p.release()
		p.ok("labd POP3 server signing off (maildrop unchanged)")
		return errQuit
	}
	// UPDATE state. Never call Expunge with nil: that would remove every
	// \Deleted message of the INBOX, not only those of this session.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gone, err := p.s.deps.Store.Expunge(ctx, p.mbID, uids)
	p.release()
	if err != nil {
		p.log.Error("expunge failed", "err", err)
		p.err("[SYS/TEMP] some deleted messages were not removed, try again")
		return errQuit
	}
	p.log.Info("deleted at QUIT", "count", len(gone))
	if p.sess != nil {
		p.sess.Notef("QUIT removed %d message(s)", len(gone))
	}
	n := len(p.msgs) - len(uids)
	p.ok(fmt.Sprintf("labd POP3 server signing off (%d messages deleted, %d left)", len(gone), n))
	return errQuit
}

// writeStuffed writes a message as the body of a multi-line response:
// lines starting with "." get another "." (RFC 1939 byte-stuffing), and a
// last line without CRLF gets one. With bodyLines >= 0 only the headers,
// the empty line and that many body lines are written (TOP).
func writeStuffed(w io.Writer, b []byte, bodyLines int) {
	bw := w.(*bufio.Writer)
	inBody := false
	count := 0
	for len(b) > 0 {
		if inBody && bodyLines >= 0 && count >= bodyLines {
			return
		}
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i+1], b[i+1:]
		}
		if line[0] == '.' {
			bw.WriteByte('.')
		}
		content := bytes.TrimRight(line, "\r\n")
		bw.Write(content)
		bw.WriteString("\r\n")
		if inBody {
			count++
		} else if len(content) == 0 {
			inBody = true
		}
	}
}

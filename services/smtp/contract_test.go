package smtp_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"labd/internal/contract"
)

// TestContractGoSMTP pins what services/smtp/lineconn.go assumes of
// go-smtp v0.25.1. The line filter sits below the library and:
//
//   - recognises replies by the start of a Write ("354 " switches to DATA
//     mode, "334 " to a SASL line, "235 " marks a login) and drops or
//     rewrites whole lines ("250-CHUNKING\r\n" is hidden, "250-STARTTLS\r\n"
//     is inserted before "250-PIPELINING\r\n"): so the library must write
//     exactly one reply line per Write, and PIPELINING must be an
//     intermediate EHLO line (a "250-" one);
//   - hands the library one line per Read and counts on the library asking
//     for the next command only after it has answered the previous one
//     (the filter's mode must follow the dialogue);
//   - after its own STARTTLS, feeds a hidden RSET and swallows the next
//     Write: RSET must be answered by exactly one Write.
//
// When this fails after an upgrade: read the new go-smtp's conn.go
// (handleGreet's caps, writeResponse, handleRset, the command loop),
// adapt lineconn.go (or drop the filter feature that broke), then update
// the pinned version below.
func TestContractGoSMTP(t *testing.T) {
	contract.Pin(t, "github.com/emersion/go-smtp", "v0.25.1",
		"one reply line per Write, EHLO caps PIPELINING and CHUNKING as 250- lines, one Write per RSET, one command read per reply (services/smtp/lineconn.go)")

	// Each client line, and whether the library must answer it before it
	// reads the next one (lines inside DATA get no reply).
	script := []struct {
		line    string
		replies bool
	}{
		{"EHLO client.example", true},
		{"AUTH PLAIN", true},       // 334
		{"AGFsaWNlAGFsaWNl", true}, // alice/alice: 235
		{"MAIL FROM:<a@example.org>", true},
		{"RCPT TO:<b@example.org>", true},
		{"DATA", true}, // 354
		{"Subject: x", false},
		{"", false},
		{"body", false},
		{".", true},
		{"RSET", true},
		{"NOOP", true},
		{"QUIT", true},
	}
	conn := &scriptConn{done: make(chan struct{})}
	for _, s := range script {
		conn.lines = append(conn.lines, s.line+"\r\n")
		conn.replies = append(conn.replies, s.replies)
	}
	srv := gosmtp.NewServer(contractBackend{})
	srv.Domain = "mx.example"
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	l := &oneConnListener{conn: conn, closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case <-conn.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the session did not end; events so far: %q", conn.snapshot())
	}
	_ = srv.Close()
	<-served

	events := conn.snapshot()
	if conn.err != "" {
		t.Errorf("%s\nevents: %q", conn.err, events)
	}
	// One line per Write.
	for _, e := range events {
		w, ok := strings.CutPrefix(e, "W:")
		if !ok {
			continue
		}
		if !strings.HasSuffix(w, "\r\n") || strings.Count(w, "\r\n") != 1 {
			t.Errorf("a Write is not exactly one reply line: %q", w)
		}
	}
	// What each command got, as Writes, in order.
	replies := map[string][]string{}
	var cur string
	for _, e := range events {
		if r, ok := strings.CutPrefix(e, "R:"); ok {
			cur = strings.TrimSuffix(r, "\r\n")
			continue
		}
		replies[cur] = append(replies[cur], strings.TrimPrefix(e, "W:"))
	}
	ehlo := replies["EHLO client.example"]
	has := func(line string) bool {
		for _, w := range ehlo {
			if w == line {
				return true
			}
		}
		return false
	}
	for _, want := range []string{"250-PIPELINING\r\n", "250-CHUNKING\r\n"} {
		if !has(want) {
			t.Errorf("EHLO reply lacks the Write %q that lineconn.go rewrites: %q", want, ehlo)
		}
	}
	for cmd, prefix := range map[string]string{"AUTH PLAIN": "334 ", "AGFsaWNlAGFsaWNl": "235 ", "DATA": "354 "} {
		if r := replies[cmd]; len(r) != 1 || !strings.HasPrefix(r[0], prefix) {
			t.Errorf("%s: replies %q, want one Write starting %q", cmd, r, prefix)
		}
	}
	if r := replies["RSET"]; len(r) != 1 {
		t.Errorf("RSET answered by %d Writes (%q): lineconn.go swallows exactly one after STARTTLS", len(r), r)
	}
}

// scriptConn hands the library one scripted line per Read and records
// every Read and Write; it notes an error when the library asks for the
// next line before it answered a line that needs a reply.
type scriptConn struct {
	mu      sync.Mutex
	lines   []string
	replies []bool
	next    int
	written bool // a Write since the last line handed out
	events  []string
	err     string
	done    chan struct{}
	closed  bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next > 0 && c.replies[c.next-1] && !c.written && c.err == "" {
		c.err = "the library read the line after " + strings.TrimSpace(c.lines[c.next-1]) + " before it answered it"
	}
	if c.next == len(c.lines) || c.closed {
		return 0, io.EOF
	}
	line := c.lines[c.next]
	if len(p) < len(line) {
		return 0, errors.New("read buffer smaller than a line")
	}
	c.next++
	c.written = false
	c.events = append(c.events, "R:"+line)
	return copy(p, line), nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = true
	c.events = append(c.events, "W:"+string(p))
	return len(p), nil
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	return nil
}

func (c *scriptConn) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

func (c *scriptConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener accepts conn once, then blocks until closed.
type oneConnListener struct {
	conn     net.Conn
	accepted bool
	once     sync.Once
	closed   chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.conn, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type contractBackend struct{}

func (contractBackend) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &contractSession{}, nil
}

type contractSession struct{}

func (*contractSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (*contractSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error { return nil }), nil
}
func (*contractSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (*contractSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (*contractSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (*contractSession) Reset()        {}
func (*contractSession) Logout() error { return nil }

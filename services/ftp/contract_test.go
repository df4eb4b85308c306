package ftp_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"labd/internal/contract"
	"labd/internal/labtest"
)

// TestContractFtpserverlib pins what services/ftp/conn.go (ctrlConn)
// assumes of ftpserverlib v0.25.0:
//
//   - USER is answered by the one Write "331 OK\r\n", which ctrlConn
//     replaces by a helpful text (an exact byte match: any other text or
//     a reply split over Writes silently shows the terse one again);
//   - HELP is answered 502 by the library, which is why ctrlConn answers
//     it itself;
//   - the idle timeout is a deadline the library sets through SetDeadline
//     (or SetReadDeadline) on the control conn before every read, and a
//     timeout error from Read makes it answer 421 and close: ctrlConn
//     intercepts those calls to extend the deadline during transfers.
//
// When this fails after an upgrade: read the new ftpserverlib's
// handle_auth.go (handleUSER), server.go (the command table) and
// client_handler.go (readCommand, handleCommandsStreamError, writeLine),
// adapt ctrlConn, then update the pinned version below.
func TestContractFtpserverlib(t *testing.T) {
	contract.Pin(t, "github.com/fclairamb/ftpserverlib", "v0.25.0",
		`the USER reply "331 OK" as one Write, HELP answered 502, the idle deadline set on the control conn before each read (services/ftp/conn.go)`)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recListener{Listener: ln}
	srv := ftpserver.NewFtpServer(&contractDriver{settings: &ftpserver.Settings{
		Listener:    rec,
		IdleTimeout: 1,
		Banner:      "contract",
	}})
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	t.Cleanup(func() {
		_ = srv.Stop()
		<-served
	})

	c := labtest.Dial(t, ln.Addr().String())
	br := bufio.NewReader(c)
	line := func() string {
		t.Helper()
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		return l
	}
	if l := line(); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("banner %q", l)
	}
	conn := rec.wait(t)

	conn.reset()
	if _, err := c.Write([]byte("USER alice\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := line(); l != "331 OK\r\n" {
		t.Errorf("USER answered %q, ctrlConn rewrites exactly %q", l, "331 OK\r\n")
	}
	if w := conn.writes(); len(w) != 1 || w[0] != "331 OK\r\n" {
		t.Errorf("USER answered by the Writes %q, ctrlConn matches the single Write %q", w, "331 OK\r\n")
	}
	if _, err := c.Write([]byte("PASS alice\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := line(); !strings.HasPrefix(l, "230 ") {
		t.Fatalf("PASS answered %q", l)
	}
	if _, err := c.Write([]byte("HELP\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := line(); !strings.HasPrefix(l, "502 ") {
		t.Errorf("HELP answered %q by the library: if it now implements HELP, ctrlConn's interception may go", l)
	}
	if conn.deadlines() == 0 {
		t.Error("the library set no deadline on the control conn before reading: ctrlConn's idle extension never applies")
	}
	// Silent for longer than IdleTimeout (1 s): 421, then the close.
	start := time.Now()
	if l := line(); !strings.HasPrefix(l, "421 ") {
		t.Errorf("idle: %q, want a 421 reply", l)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("the control connection stayed open after the idle 421")
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("the idle timeout of 1 s took %v", time.Since(start))
	}
}

// recListener wraps the first accepted conn in a recConn.
type recListener struct {
	net.Listener
	mu   sync.Mutex
	conn *recConn
}

func (l *recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recConn{Conn: c}
	l.mu.Lock()
	l.conn = rc
	l.mu.Unlock()
	return rc, nil
}

func (l *recListener) wait(t *testing.T) *recConn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		c := l.conn
		l.mu.Unlock()
		if c != nil {
			return c
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the library accepted no connection")
	return nil
}

// recConn records the Writes and counts the deadlines the library sets.
type recConn struct {
	net.Conn
	mu   sync.Mutex
	w    []string
	dead int
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.w = append(c.w, string(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.dead++
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *recConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.dead++
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *recConn) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w, c.dead = nil, 0
}

func (c *recConn) writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.w...)
}

func (c *recConn) deadlines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

type contractDriver struct{ settings *ftpserver.Settings }

func (d *contractDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }
func (d *contractDriver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "contract", nil
}
func (d *contractDriver) ClientDisconnected(ftpserver.ClientContext) {}
func (d *contractDriver) AuthUser(ftpserver.ClientContext, string, string) (ftpserver.ClientDriver, error) {
	return afero.NewMemMapFs(), nil
}
func (d *contractDriver) GetTLSConfig() (*tls.Config, error) {
	return nil, errors.New("no TLS in this contract test")
}

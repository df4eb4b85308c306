package imap_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
	imapsvc "labd/services/imap"
)

// greeted dials 143 and reads the greeting: a connection the pre-greeter
// holds (no byte sent yet).
func greeted(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := labtest.Dial(t, addr)
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK ") {
		t.Fatalf("greeting: %q %v", l, err)
	}
	return c, br
}

// closedBy waits until the server closes c (EOF or reset), after an
// optional last line; it fails after 10 s.
func closedBy(t *testing.T, br *bufio.Reader, c net.Conn, what string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: still open after 10 s (read %q)", what, b)
	}
	return string(b)
}

// TestPreGreetedLimitsAndKill: connections greeted by labd and silent
// since count against imap.max_conns_per_ip (the next one gets BYE), are
// ended by the dashboard's kill (freeing their place) and by
// limits.login_timeout, as the library's connections are.
func TestPreGreetedLimitsAndKill(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.IMAP.MaxConnsPerIP = 3
		c.Limits.LoginTimeout = config.Duration(2 * time.Second)
	})
	var conns []net.Conn
	var readers []*bufio.Reader
	for range 3 {
		c, br := greeted(t, e.plain)
		conns, readers = append(conns, c), append(readers, br)
	}
	over := labtest.Dial(t, e.plain)
	if got := closedBy(t, bufio.NewReader(over), over, "fourth connection"); !strings.HasPrefix(got, "* BYE [UNAVAILABLE]") {
		t.Errorf("fourth connection from one address: %q, want * BYE [UNAVAILABLE]", got)
	}
	// Kill one from the dashboard.
	var killed bool
	for _, in := range e.deps.Sessions.Live() {
		if in.Proto != "imap" || in.Remote != conns[0].LocalAddr().String() {
			continue
		}
		s, ok := e.deps.Sessions.Get(in.ID)
		if !ok {
			t.Fatalf("live session %d not found", in.ID)
		}
		killed = s.Kill()
	}
	if !killed {
		t.Fatalf("no killable session for %s in %+v", conns[0].LocalAddr(), e.deps.Sessions.Live())
	}
	closedBy(t, readers[0], conns[0], "killed connection")
	// Its place is free again.
	c, br := greeted(t, e.plain)
	if _, err := io.WriteString(c, "a LOGIN alice alice\r\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a OK") {
		t.Fatalf("login after a kill freed a place: %q %v", l, err)
	}
	// The silent ones are closed by the login timeout; the logged-in
	// one stays.
	for i := 1; i < 3; i++ {
		closedBy(t, readers[i], conns[i], "silent connection past the login timeout")
	}
	if _, err := io.WriteString(c, "b NOOP\r\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "b OK") {
		t.Fatalf("logged-in connection after the login timeout: %q %v", l, err)
	}
}

// TestPreGreetedShutdown: labd stopping with many greeted, silent
// connections closes them all by the end of its drain, and one whose
// client speaks during the drain is not left hanging either.
func TestPreGreetedShutdown(t *testing.T) {
	cfg := labtest.Config(t)
	deps := labtest.Deps(t, cfg)
	svc, err := imapsvc.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := svc.Bind()
	if err != nil {
		t.Fatal(err)
	}
	addr := labtest.Addr(t, eps, "imap", "tcp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	defer cancel()
	const n = 40
	var conns []net.Conn
	var readers []*bufio.Reader
	for range n {
		c, br := greeted(t, addr)
		conns, readers = append(conns, c), append(readers, br)
	}
	// SIGTERM: Serve ends (listeners closed), then Shutdown drains.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// One client speaks during the drain.
	io.WriteString(conns[0], "a CAPABILITY\r\n")
	// The drain could last a minute: connections whose client never
	// spoke hold nothing to wait for, and must not make it last.
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	began := time.Now()
	if err := svc.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("shutdown took %v with only greeted, silent connections", d)
	}
	for i := range conns {
		// The library no longer takes connections: each client is
		// told why it is closed rather than dropped silently.
		if got := closedBy(t, readers[i], conns[i], "greeted connection at shutdown"); !strings.HasPrefix(got, "* BYE ") {
			t.Errorf("greeted connection %d got %q at shutdown, want * BYE", i, got)
		}
	}
	waitNoLive(t, deps.Sessions)
}

// TestPreGreetedHangUps: clients that reset the connection at once
// (before or during the greeting), or after half a command line, leave
// no session open and the service serving.
func TestPreGreetedHangUps(t *testing.T) {
	e := start(t)
	for i := range 30 {
		c := labtest.Dial(t, e.plain)
		switch i % 3 {
		case 1:
			io.WriteString(c, "a LOG")
		case 2:
			br := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	waitNoLive(t, e.deps.Sessions)
	c, br := greeted(t, e.plain)
	io.WriteString(c, "a LOGIN alice alice\r\n")
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a OK") {
		t.Fatalf("login after the hang-ups: %q %v", l, err)
	}
}

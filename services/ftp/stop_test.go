package ftp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"labd/internal/labtest"
	labftp "labd/services/ftp"
)

// startStoppable serves FTP like start, with a stop that does what
// SIGTERM does, with a grace of a minute (labtest.StartStoppable).
func startStoppable(t *testing.T) (*env, func() time.Duration) {
	t.Helper()
	deps := labtest.Deps(t, labtest.Config(t))
	svc, err := labftp.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	svc.AuthFailDelay = 10 * time.Millisecond
	eps, stopped := labtest.StartStoppable(t, svc, time.Minute)
	stop := func() time.Duration {
		took, err := stopped()
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
		return took
	}
	return &env{addr: labtest.Addr(t, eps, "ftp", "tcp"), deps: deps, svc: svc}, stop
}

// endsWith421 reads what the server still sends on an idle control
// connection: the 421 of the stop, then the end of the stream.
func endsWith421(t *testing.T, what string, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: still open after 10 s (read %q)", what, got)
	}
	if !strings.HasPrefix(string(got), "421 ") || strings.Count(string(got), "\n") != 1 || err != nil {
		t.Errorf("%s: got %q (%v) at the stop, want only a 421 and the end", what, got, err)
	}
}

// TestIdleControlConnectionsEndAtStop: when labd stops, control
// connections waiting for their client's next command (logged in or not,
// in clear or after AUTH TLS, after a PASV with no transfer yet) get 421
// and are closed at once instead of holding the stop for the whole grace
// period; a download under way goes on to its last byte and its 226, and
// only then does its control connection get the 421, and so does an
// upload, stored when acknowledged. A Go FTP client
// sees the 421 at its next command.
func TestIdleControlConnectionsEndAtStop(t *testing.T) {
	e, stop := startStoppable(t)
	big := payload(8 << 20)
	if err := os.WriteFile(e.home("alice", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	type ctrl struct {
		what string
		c    net.Conn
		r    *bufio.Reader
	}
	var idle []ctrl
	c, r := login(t, e.addr)
	idle = append(idle, ctrl{"logged in", c, r})
	c, r = loginAuthTLS(t, e)
	idle = append(idle, ctrl{"after AUTH TLS", c, r})
	c = labtest.Dial(t, e.addr)
	r = bufio.NewReader(c)
	expect(t, r, "220")
	idle = append(idle, ctrl{"greeted only", c, r})
	c, r = login(t, e.addr)
	epsv(t, c, r)
	idle = append(idle, ctrl{"after EPSV", c, r})

	client := e.dial(t, "alice", "alice")

	dc, dr := login(t, e.addr)
	data, _ := epsv(t, dc, dr)
	send(t, dc, dr, "RETR big.bin", "150")
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(data, head); err != nil {
		t.Fatal(err)
	}

	uc, ur := login(t, e.addr)
	up, _ := epsv(t, uc, ur)
	send(t, uc, ur, "STOR up.bin", "150")
	if _, err := up.Write(big[:64<<10]); err != nil {
		t.Fatal(err)
	}

	took := make(chan time.Duration, 1)
	go func() { took <- stop() }()
	for _, ic := range idle {
		endsWith421(t, ic.what, ic.c, ic.r)
	}
	if err := client.NoOp(); err == nil || !strings.HasPrefix(err.Error(), "421 ") {
		t.Errorf("the Go client's NOOP after the stop: %v, want its 421", err)
	}
	// The stop is under way (the idle connections got their 421): the
	// download goes on to its end.
	data.SetReadDeadline(time.Now().Add(30 * time.Second))
	rest, err := io.ReadAll(data)
	if err != nil || !bytes.Equal(append(head, rest...), big) {
		t.Fatalf("download during the stop: %d of %d bytes, %v", len(head)+len(rest), len(big), err)
	}
	dc.SetReadDeadline(time.Now().Add(10 * time.Second))
	expect(t, dr, "226")
	endsWith421(t, "after its download", dc, dr)
	// So does an upload, acknowledged with 226 and stored.
	if _, err := up.Write(big[64<<10:]); err != nil {
		t.Fatal(err)
	}
	up.Close()
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	expect(t, ur, "226")
	endsWith421(t, "after its upload", uc, ur)
	if got, err := os.ReadFile(e.home("alice", "up.bin")); err != nil || !bytes.Equal(got, big) {
		t.Errorf("upload during the stop: %d of %d bytes stored, %v", len(got), len(big), err)
	}
	if d := <-took; d > 20*time.Second {
		t.Errorf("the stop took %v with only idle control connections left", d)
	}
}

// TestBusyControlConnectionsAtStop: clients sending commands back to back
// while labd stops each get the reply to every command the library ran,
// then 421, then the end: a command that arrives as the connection is
// woken is dropped unread, never run after the 421 nor cut off.
func TestBusyControlConnectionsAtStop(t *testing.T) {
	e, stop := startStoppable(t)
	var wg sync.WaitGroup
	started := make(chan struct{}, 10)
	for i := range 10 {
		c, r := login(t, e.addr)
		if i%2 == 1 {
			c, r = loginAuthTLS(t, e)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if _, err := fmt.Fprintf(c, "NOOP\r\n"); err != nil {
					t.Errorf("conn %d: closed without 421: %v", i, err)
					return
				}
				if n == 5 {
					started <- struct{}{}
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				l, err := r.ReadString('\n')
				switch {
				case strings.HasPrefix(l, "421 "):
					if rest, err := io.ReadAll(r); len(rest) > 0 || err != nil {
						t.Errorf("conn %d: after 421: %q %v", i, rest, err)
					}
					return
				case err != nil:
					t.Errorf("conn %d: closed without 421 after %q: %v", i, l, err)
					return
				case !strings.HasPrefix(l, "200 "):
					t.Errorf("conn %d: %q to NOOP", i, l)
					return
				}
			}
		}()
	}
	for range 10 {
		<-started
	}
	if d := stop(); d > 20*time.Second {
		t.Errorf("the stop took %v with clients only sending NOOP", d)
	}
	wg.Wait()
}

// Python's ftplib, logged in and idle when labd stops, gets the 421 at its
// next command, as error_temp with labd's reason.
func TestPythonFtplibAtStop(t *testing.T) {
	e, stop := startStoppable(t)
	script := `
import ftplib, sys
host, port = sys.argv[1].rsplit(":", 1)
f = ftplib.FTP()
f.connect(host, int(port), timeout=10)
f.login("alice", "alice")
print("ready", flush=True)
sys.stdin.readline()
try:
    print("noop", f.voidcmd("NOOP"))
except ftplib.error_temp as e:
    print("error_temp", e)
`
	resume := labtest.RunToolPaused(t, "python3", "-c", script, e.addr)
	if d := stop(); d > 20*time.Second {
		t.Errorf("the stop took %v with an idle ftplib session", d)
	}
	rest := resume()
	if want := "error_temp 421 Service not available, closing control connection: labd is stopping"; !strings.HasPrefix(rest, want) {
		t.Errorf("ftplib after the stop: %q, want %q", rest, want)
	}
}

package service_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"labd/config"
	"labd/internal/labtest"
)

func dialFrom(t *testing.T, addr string, ip net.IP) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until EOF and says whether that came within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return err == nil
}

// pop3Login logs in on a fresh connection and runs STAT.
func pop3Login(t *testing.T, addr string, ip net.IP, user string) (net.Conn, error) {
	c := dialFrom(t, addr, ip)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(c)
	for _, cmd := range []string{"", "USER " + user, "PASS " + user, "STAT"} {
		if cmd != "" {
			fmt.Fprintf(c, "%s\r\n", cmd)
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("after %q: %w", cmd, err)
		}
		if !strings.HasPrefix(line, "+OK") {
			return nil, fmt.Errorf("after %q: %q", cmd, line)
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// TestTricklersDoNotStarveTheClass: one student fills the per-address cap
// of POP3 with connections that trickle a byte a second and never end a
// line. They are cut after line_timeout, and a classmate behind the same
// address is then served; logged-in connections never count against the
// address.
func TestTricklersDoNotStarveTheClass(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.POP3.MaxConnsPerIP = 5
	cfg.Limits.LineTimeout = config.Duration(2 * time.Second)
	d := labtest.StartDaemon(t, cfg)
	addr := d.Addr(t, "pop3", "tcp")
	lo := net.IPv4(127, 0, 0, 1)

	// Five logged-in sessions of the class: they do not use the address's
	// pre-login budget.
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("student%d", i)
		if err := d.Deps.Store.CreateUser(context.Background(), name, name, false); err != nil {
			t.Fatal(err)
		}
		if _, err := pop3Login(t, addr, lo, name); err != nil {
			t.Fatalf("logged-in session %d: %v", i, err)
		}
	}
	// Five trickling connections fill the pre-login cap.
	var trickles []net.Conn
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		c := dialFrom(t, addr, lo)
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("trickler %d greeting: %q %v", i, l, err)
		}
		c.SetReadDeadline(time.Time{})
		trickles = append(trickles, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range []byte("USER aliceeeeeeeeeeeeeeeeeeeeee") {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	// The cap is full: a sixth pre-login connection is refused politely.
	c := dialFrom(t, addr, lo)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("sixth connection while the cap is full: %q, want -ERR", l)
	}
	start := time.Now()
	for i, c := range trickles {
		if !closedWithin(c, 10*time.Second) {
			t.Fatalf("trickler %d still open after %v", i, time.Since(start))
		}
	}
	t.Logf("five tricklers cut %v after the cap filled", time.Since(start).Round(100*time.Millisecond))
	if _, err := pop3Login(t, addr, lo, "alice"); err != nil {
		t.Fatalf("a classmate behind the same address after the tricklers were cut: %v", err)
	}
}

// TestSSHPreAuthFlood: 80 connections from one address that never start
// the SSH handshake. Those over the per-address cap are closed at once,
// the others at the login grace time; meanwhile a student from another
// address logs in, and afterwards one from the flooding address too.
func TestSSHPreAuthFlood(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.Limits.SSHLoginGrace = config.Duration(3 * time.Second)
	cfg.Limits.SSHMaxConnsPerIP = 20
	d := labtest.StartDaemon(t, cfg)
	addr := d.Addr(t, "ssh", "tcp")
	var flood []net.Conn
	for i := 0; i < 80; i++ {
		flood = append(flood, dialFrom(t, addr, net.IPv4(127, 0, 0, 1)))
	}
	// Those over the cap are closed at once; the banner is all the others
	// get before the grace time.
	quick := 0
	for _, c := range flood[20:] {
		if closedWithin(c, 2*time.Second) {
			quick++
		}
	}
	if quick < 55 {
		t.Errorf("%d of 60 connections over the per-address cap closed within 2 s", quick)
	}
	sshLogin := func(ip net.IP) error {
		c := dialFrom(t, addr, ip)
		conn, chans, reqs, err := ssh.NewClientConn(c, addr, &ssh.ClientConfig{
			User: "alice", Auth: []ssh.AuthMethod{ssh.Password("alice")},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		})
		if err != nil {
			return err
		}
		ssh.NewClient(conn, chans, reqs).Close()
		return nil
	}
	if err := sshLogin(net.IPv4(127, 0, 0, 2)); err != nil {
		t.Fatalf("a student from another address during the flood: %v", err)
	}
	start := time.Now()
	for i, c := range flood[:20] {
		if !closedWithin(c, 10*time.Second) {
			t.Fatalf("silent pre-auth connection %d open after the grace time (%v)", i, time.Since(start))
		}
	}
	if err := sshLogin(net.IPv4(127, 0, 0, 1)); err != nil {
		t.Fatalf("after the flood, from its address: %v", err)
	}
}

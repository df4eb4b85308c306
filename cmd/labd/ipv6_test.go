package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/miekg/dns"
	"golang.org/x/crypto/ssh"

	"labd/config"
	"labd/internal/labtest"
)

// Every service answers over IPv6 (::1), and the session registry shows
// the IPv6 4-tuple that a Wireshark capture would.
func TestEveryServiceOverIPv6(t *testing.T) {
	cfg := config.LabEphemeralOn(t.TempDir(), "::1")
	d := labtest.StartDaemon(t, cfg)
	addr := func(svc, network string) string {
		a := d.Addr(t, svc, network)
		if !strings.HasPrefix(a, "[::1]:") {
			t.Fatalf("%s/%s bound %s, want [::1]:port", svc, network, a)
		}
		return a
	}
	line := func(c net.Conn, br *bufio.Reader, send, want string) {
		t.Helper()
		if send != "" {
			fmt.Fprintf(c, "%s\r\n", send)
		}
		l, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("after %q: got %q, %v (want %s)", send, l, err, want)
		}
	}

	t.Run("http", func(t *testing.T) {
		resp, err := http.Get("http://" + addr("http", "tcp") + "/echo")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte("::1")) {
			t.Errorf("echo over IPv6: %s\n%s", resp.Status, b)
		}
	})
	t.Run("smtp", func(t *testing.T) {
		s := dialSMTP(t, addr("smtp", "tcp"))
		s.cmd("EHLO v6.lab.test", "250")
		s.cmd("MAIL FROM:<alice@lab.test>", "250")
		s.cmd("RCPT TO:<bob@lab.test>", "250")
		s.cmd("DATA", "354")
		s.cmd("Subject: v6\r\n\r\nover IPv6\r\n.", "250")
		s.cmd("QUIT", "221")
	})
	t.Run("pop3", func(t *testing.T) {
		c := labtest.Dial(t, addr("pop3", "tcp"))
		br := bufio.NewReader(c)
		line(c, br, "", "+OK")
		line(c, br, "USER bob", "+OK")
		line(c, br, "PASS bob", "+OK")
		line(c, br, "QUIT", "+OK")
	})
	t.Run("imap", func(t *testing.T) {
		c := labtest.Dial(t, addr("imap", "tcp"))
		br := bufio.NewReader(c)
		line(c, br, "", "* OK")
		line(c, br, "a LOGIN alice alice", "a OK")
		line(c, br, "b LOGOUT", "* BYE")
	})
	t.Run("dns", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			m := new(dns.Msg)
			m.SetQuestion("lab.test.", dns.TypeMX)
			r, _, err := (&dns.Client{Net: network, Timeout: 10 * time.Second}).Exchange(m, addr("dns", network))
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				t.Fatalf("MX over %s/IPv6: %v %v", network, r, err)
			}
		}
		// The host and each user's name have AAAA records with the
		// host's IPv6 address.
		for _, name := range []string{"lab.test.", "alice.lab.test."} {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeAAAA)
			r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, addr("dns", "udp"))
			if err != nil || len(r.Answer) == 0 {
				t.Fatalf("AAAA %s: %v %v", name, r, err)
			}
			if a, ok := r.Answer[0].(*dns.AAAA); !ok || a.AAAA.String() != "::1" {
				t.Errorf("AAAA %s: %v", name, r.Answer[0])
			}
		}
	})
	t.Run("ftp-epsv", func(t *testing.T) {
		c, err := ftp.Dial(addr("ftp", "tcp"), ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := c.Login("alice", "alice"); err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("v6.txt", strings.NewReader("over IPv6\n")); err != nil {
			t.Fatalf("STOR over EPSV/IPv6: %v", err)
		}
		r, err := c.Retr("v6.txt")
		if err != nil {
			t.Fatalf("RETR over EPSV/IPv6: %v", err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "over IPv6\n" {
			t.Errorf("RETR gave %q", b)
		}
	})
	t.Run("tftp", func(t *testing.T) { tftpGetReadme(t, addr("tftp", "udp")) })
	t.Run("ssh", func(t *testing.T) {
		cc, err := ssh.Dial("tcp", addr("ssh", "tcp"), &ssh.ClientConfig{User: "alice",
			Auth: []ssh.AuthMethod{ssh.Password("alice")}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		s, err := cc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.CombinedOutput("whoami")
		if err != nil || !strings.Contains(string(out), "alice") {
			t.Errorf("ssh whoami over IPv6: %q %v", out, err)
		}
	})
	t.Run("telnet", func(t *testing.T) {
		c := labtest.Dial(t, addr("telnet", "tcp"))
		buf := make([]byte, 512)
		var got []byte
		for !bytes.Contains(got, []byte("login:")) {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("telnet over IPv6: %q %v", got, err)
			}
			got = append(got, buf[:n]...)
		}
	})

	// The registry holds IPv6 4-tuples for every protocol.
	deadline := time.Now().Add(20 * time.Second)
	for {
		seen := map[string]bool{}
		for _, s := range d.Deps.Sessions.List() {
			if strings.HasPrefix(s.Remote, "[::1]:") && strings.HasPrefix(s.Local, "[::1]:") {
				seen[s.Proto] = true
			}
		}
		missing := []string{}
		for _, p := range []string{"http", "smtp", "pop3", "imap", "dns", "ftp", "ftp-data", "tftp", "ssh", "telnet"} {
			if !seen[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no IPv6 session recorded for %v (seen %v)", missing, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

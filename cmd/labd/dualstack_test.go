package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pin/tftp/v3"

	"labd/config"
	"labd/internal/labtest"
)

// tftpGetReadme fetches README.txt over TFTP from addr and fails unless
// it comes whole and not empty.
func tftpGetReadme(t *testing.T, addr string) {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Second)
	wt, err := c.Receive("README.txt", "octet")
	if err != nil {
		t.Fatalf("TFTP RRQ to %s: %v", addr, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil || buf.Len() == 0 {
		t.Fatalf("TFTP get from %s: %d bytes, %v", addr, buf.Len(), err)
	}
}

// ftpLine reads one (possibly multi-line) FTP reply and returns its last
// line.
func ftpLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("FTP reply: %q %v", l, err)
		}
		if len(l) >= 4 && l[3] == ' ' {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

func ftpCmd(t *testing.T, c net.Conn, br *bufio.Reader, cmd, want string) string {
	t.Helper()
	fmt.Fprintf(c, "%s\r\n", cmd)
	l := ftpLine(t, br)
	if !strings.HasPrefix(l, want) {
		t.Fatalf("%s: got %q, want %s", cmd, l, want)
	}
	return l
}

// A host that lists "::" serves IPv4 and IPv6 clients on one socket per
// port (dual stack). IPv4 clients then reach labd from v4-mapped
// addresses, which must never leak into what labd tells them: a PASV
// reply carries the IPv4 address the client connected to.
func TestDualStackWildcard(t *testing.T) {
	cfg := config.LabEphemeralOn(t.TempDir(), "::")
	d := labtest.StartDaemon(t, cfg)
	port := func(svc, network string) string {
		a := d.Addr(t, svc, network)
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			at := func(svc, network string) string { return net.JoinHostPort(host, port(svc, network)) }

			resp, err := http.Get("http://" + at("http", "tcp") + "/echo")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(b, []byte(host)) || bytes.Contains(b, []byte("::ffff:")) {
				t.Errorf("echo from %s: %s\n%s", host, resp.Status, b)
			}

			m := new(dns.Msg)
			m.SetQuestion("lab.test.", dns.TypeA)
			r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, at("dns", "udp"))
			if err != nil || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("DNS over UDP from %s: %v %v", host, r, err)
			}

			tftpGetReadme(t, at("tftp", "udp"))

			// FTP: passive in the client's family (PASV for IPv4, EPSV for
			// both), and active mode with EPRT in the client's family.
			c := labtest.Dial(t, at("ftp", "tcp"))
			br := bufio.NewReader(c)
			if l := ftpLine(t, br); !strings.HasPrefix(l, "220") {
				t.Fatalf("FTP greeting %q", l)
			}
			ftpCmd(t, c, br, "USER alice", "331")
			ftpCmd(t, c, br, "PASS alice", "230")
			if host == "127.0.0.1" {
				l := ftpCmd(t, c, br, "PASV", "227")
				if !regexp.MustCompile(`\(127,0,0,1,\d+,\d+\)`).MatchString(l) {
					t.Errorf("PASV to an IPv4 client over a dual-stack socket: %q", l)
				}
				ftpCmd(t, c, br, "ABOR", "2")
			}
			ftpCmd(t, c, br, "EPSV", "229")
			ftpCmd(t, c, br, "ABOR", "2")

			ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			lp := ln.Addr().(*net.TCPAddr).Port
			fam := "1"
			if strings.Contains(host, ":") {
				fam = "2"
			}
			ftpCmd(t, c, br, fmt.Sprintf("EPRT |%s|%s|%d|", fam, host, lp), "200")
			fmt.Fprintf(c, "NLST\r\n")
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
			dc, err := ln.Accept()
			if err != nil {
				t.Fatalf("active data connection from labd to %s: %v", host, err)
			}
			dc.SetDeadline(time.Now().Add(15 * time.Second))
			io.Copy(io.Discard, dc)
			dc.Close()
			for l := ftpLine(t, br); !strings.HasPrefix(l, "226"); l = ftpLine(t, br) {
				if !strings.HasPrefix(l, "1") {
					t.Fatalf("NLST over EPRT: %q", l)
				}
			}
			ftpCmd(t, c, br, "QUIT", "221")
		})
	}
}

package shell

// Network clients to the lab's own services: nc, telnet, openssl
// s_client, ping. Every connection goes through Shell.dial.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// flusher flushes a terminal writer, so that a server's reply shows
// before the user types the next line.
func flush(w io.Writer) {
	for {
		switch x := w.(type) {
		case interface{ Flush() error }:
			x.Flush()
			return
		case *limitedWriter:
			w = x.w
		default:
			return
		}
	}
}

// copyOut copies the connection to the output as it comes.
func copyOut(w io.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			flush(w)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// relay sends standard input to conn line by line (CR LF line ends with
// crlf) and the replies to the output, until the server closes, or the
// input ends and the server closes, or Ctrl-C.
func (c *call) relay(conn net.Conn, crlf bool, idle time.Duration) int {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wg sync.WaitGroup
	var outErr error
	wg.Go(func() {
		outErr = copyOut(c.out, conn)
		cancel() // the server closed: stop reading the input
	})
	br := bufio.NewReader(readerCtx(ctx, c.in))
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if crlf {
				line = strings.TrimRight(line, "\r\n") + "\r\n"
			}
			if _, werr := io.WriteString(conn, line); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if c.ctx.Err() == nil && ctx.Err() == nil {
		// End of the input: the server may still answer (QUIT).
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
			if cw, ok := nc.NetConn().(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}
		if idle > 0 {
			t := time.AfterFunc(idle, cancel)
			defer t.Stop()
		}
	}
	wg.Wait()
	conn.Close()
	if c.ctx.Err() != nil {
		return 130
	}
	if outErr != nil && !errors.Is(outErr, net.ErrClosed) {
		return c.failf("%v", outErr)
	}
	return 0
}

func cmdNc(s *Shell, c *call) int {
	o, args, ok := c.getopt("uCzvnw:q:")
	if !ok {
		return 2
	}
	if len(args) != 2 {
		c.usageError("nc HOST PORT (-u UDP, -C CR LF line ends, -z only test the port)")
		return 2
	}
	network := "tcp"
	if o.has('u') {
		network = "udp"
	}
	conn, err := s.dial(c.ctx, network, args[0], args[1], "nc "+strings.Join(c.args, " "))
	if err != nil {
		return c.failf("connect to %s port %s (%s) failed: %v", args[0], args[1], network, err)
	}
	if o.has('z') || o.has('v') {
		fmt.Fprintf(c.err, "Connection to %s %s port [%s/*] succeeded!\n", args[0], args[1], network)
	}
	if o.has('z') {
		conn.Close()
		return 0
	}
	idle := time.Duration(0)
	if network == "udp" {
		idle = 2 * time.Second // no close in UDP: wait for late replies
	}
	if o.has('w') {
		idle = time.Duration(o.num('w', 0)) * time.Second
	}
	if o.has('q') {
		idle = time.Duration(o.num('q', 0)) * time.Second
	}
	return c.relay(conn, o.has('C'), idle)
}

func cmdPing(s *Shell, c *call) int {
	host := "HOST"
	if len(c.args) > 0 {
		host = c.args[len(c.args)-1]
	}
	fmt.Fprintf(c.err, "ping: %s\n", s.tf("ICMP is not available in the lab shell (it sends no raw packets).\n"+
		"To check that a service answers, try: nc -z %s 25   or   curl -I http://%s/", host, host))
	return 2
}

// Telnet option negotiation (RFC 854/855).
const (
	tIAC  = 255
	tDONT = 254
	tDO   = 253
	tWONT = 252
	tWILL = 251
	tSB   = 250
	tSE   = 240
	oECHO = 1
	oSGA  = 3
)

// nvtClient strips the Telnet commands from what the server sends and
// answers its negotiation: it accepts the server's ECHO and SGA (the
// server then echoes), offers SGA, refuses the rest.
type nvtClient struct {
	conn       net.Conn
	mu         sync.Mutex
	remoteEcho bool
	state      int // 0 data, 1 IAC, 2 option verb, 3 SB, 4 SB IAC
	verb       byte
}

func (n *nvtClient) send(b ...byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.conn.Write(b)
}

func (n *nvtClient) echoing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.remoteEcho
}

// filter returns the data bytes of p and answers the commands in it.
func (n *nvtClient) filter(p []byte) []byte {
	out := p[:0:0]
	for _, b := range p {
		switch n.state {
		case 0:
			if b == tIAC {
				n.state = 1
			} else {
				out = append(out, b)
			}
		case 1:
			switch b {
			case tIAC:
				out = append(out, tIAC)
				n.state = 0
			case tWILL, tWONT, tDO, tDONT:
				n.verb, n.state = b, 2
			case tSB:
				n.state = 3
			default:
				n.state = 0 // NOP, GA, ...
			}
		case 2:
			n.state = 0
			switch n.verb {
			case tWILL:
				if b == oECHO || b == oSGA {
					n.mu.Lock()
					if b == oECHO {
						n.remoteEcho = true
					}
					n.mu.Unlock()
					n.send(tIAC, tDO, b)
				} else {
					n.send(tIAC, tDONT, b)
				}
			case tWONT:
				if b == oECHO {
					n.mu.Lock()
					n.remoteEcho = false
					n.mu.Unlock()
				}
				n.send(tIAC, tDONT, b)
			case tDO:
				if b == oSGA {
					n.send(tIAC, tWILL, b)
				} else {
					n.send(tIAC, tWONT, b)
				}
			case tDONT:
				n.send(tIAC, tWONT, b)
			}
		case 3:
			if b == tIAC {
				n.state = 4
			}
		case 4:
			if b == tSE {
				n.state = 0
			} else {
				n.state = 3
			}
		}
	}
	return out
}

// nvtReader is the server's data without the Telnet commands.
type nvtReader struct{ n *nvtClient }

func (r nvtReader) Read(p []byte) (int, error) {
	for {
		k, err := r.n.conn.Read(p)
		d := r.n.filter(p[:k])
		copy(p, d)
		if len(d) > 0 || err != nil {
			return len(d), err
		}
	}
}

func cmdTelnet(s *Shell, c *call) int {
	_, args, ok := c.getopt("")
	if !ok {
		return 2
	}
	if len(args) < 1 || len(args) > 2 {
		c.usageError("%s", "telnet HOST [PORT]")
		return 2
	}
	port := "23"
	if len(args) == 2 {
		port = args[1]
	}
	fmt.Fprintf(c.out, "Trying %s...\n", args[0])
	flush(c.out)
	conn, err := s.dial(c.ctx, "tcp", args[0], port, "telnet "+strings.Join(args, " "))
	if err != nil {
		return c.failf("Unable to connect to remote host: %v", err)
	}
	defer conn.Close()
	n := &nvtClient{conn: conn}
	fmt.Fprintf(c.out, "Connected to %s.\nEscape character is '^]'.\n", args[0])
	flush(c.out)
	if s.tty == nil || !s.tty.echo {
		// Not a terminal: lines in, CR LF line ends, like a script.
		return c.relay(&nvtConn{Conn: conn, n: n}, true, 0)
	}
	err = s.rawMode(c.ctx, func(keys <-chan []byte, out io.Writer, width, height int) error {
		ctx, cancel := context.WithCancel(c.ctx)
		defer cancel()
		go func() {
			copyOut(out, nvtReader{n})
			cancel()
		}()
		var line []byte
		for {
			var k []byte
			select {
			case k = <-keys:
			case <-ctx.Done():
				io.WriteString(out, "\r\nConnection closed by foreign host.\r\n")
				return nil
			}
			for _, b := range k {
				if b == 0x1d { // Ctrl-]
					io.WriteString(out, "\r\ntelnet> quit\r\nConnection closed.\r\n")
					return nil
				}
				if n.echoing() { // character at a time: the server echoes
					if b == '\r' {
						n.send('\r', 0)
					} else if b == tIAC {
						n.send(tIAC, tIAC)
					} else {
						n.send(b)
					}
					continue
				}
				switch b { // line at a time, echoed here
				case '\r', '\n':
					io.WriteString(out, "\r\n")
					n.send(append(line, '\r', '\n')...)
					line = nil
				case 127, 8:
					if len(line) > 0 {
						line = line[:len(line)-1]
						io.WriteString(out, "\b \b")
					}
				case 3:
					n.send(tIAC, 244) // IP: interrupt process
					line = nil
				default:
					line = append(line, b)
					out.Write([]byte{b})
				}
				flush(out)
			}
		}
	})
	if err != nil {
		return c.failf("%v", err)
	}
	return 0
}

// nvtConn reads through the NVT filter and writes IAC doubled.
type nvtConn struct {
	net.Conn
	n *nvtClient
}

func (c *nvtConn) Read(p []byte) (int, error) { return nvtReader{c.n}.Read(p) }
func (c *nvtConn) Write(p []byte) (int, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	_, err := c.Conn.Write([]byte(strings.ReplaceAll(string(p), "\xff", "\xff\xff")))
	return len(p), err
}

// starttls speaks the protocol's clear-text start up to its STARTTLS.
func starttls(conn net.Conn, proto string, out io.Writer) error {
	br := bufio.NewReader(conn)
	reply := func(done func(string) bool) (string, error) {
		for {
			conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			l, err := br.ReadString('\n')
			if err != nil {
				return "", errorf("the server did not answer: %w", err)
			}
			if done(l) {
				return l, nil
			}
		}
	}
	smtpEnd := func(l string) bool { return len(l) >= 4 && l[3] == ' ' }
	send := func(cmd string) { io.WriteString(conn, cmd+"\r\n") }
	var last string
	var err error
	switch proto {
	case "smtp":
		if _, err = reply(smtpEnd); err != nil {
			return err
		}
		send("EHLO labsh")
		if _, err = reply(smtpEnd); err != nil {
			return err
		}
		send("STARTTLS")
		last, err = reply(smtpEnd)
		if err == nil && !strings.HasPrefix(last, "220") {
			err = errorf("STARTTLS refused: %s", strings.TrimSpace(last))
		}
	case "pop3":
		if _, err = reply(func(string) bool { return true }); err != nil {
			return err
		}
		send("STLS")
		last, err = reply(func(string) bool { return true })
		if err == nil && !strings.HasPrefix(last, "+OK") {
			err = errorf("STLS refused: %s", strings.TrimSpace(last))
		}
	case "imap":
		if _, err = reply(func(string) bool { return true }); err != nil {
			return err
		}
		send("a STARTTLS")
		last, err = reply(func(l string) bool { return strings.HasPrefix(l, "a ") })
		if err == nil && !strings.HasPrefix(last, "a OK") {
			err = errorf("STARTTLS refused: %s", strings.TrimSpace(last))
		}
	case "ftp":
		if _, err = reply(smtpEnd); err != nil {
			return err
		}
		send("AUTH TLS")
		last, err = reply(smtpEnd)
		if err == nil && !strings.HasPrefix(last, "234") {
			err = errorf("AUTH TLS refused: %s", strings.TrimSpace(last))
		}
	default:
		return errorf("-starttls %s is not supported; use smtp, imap, pop3 or ftp", proto)
	}
	conn.SetReadDeadline(time.Time{})
	if br.Buffered() > 0 {
		return errors.New("the server sent data after its STARTTLS reply")
	}
	return err
}

func subjectLine(cert *x509.Certificate) string {
	s := "CN = " + cert.Subject.CommonName
	if len(cert.Subject.Organization) > 0 {
		s = "O = " + cert.Subject.Organization[0] + ", " + s
	}
	return s
}

func issuerLine(cert *x509.Certificate) string {
	s := "CN = " + cert.Issuer.CommonName
	if len(cert.Issuer.Organization) > 0 {
		s = "O = " + cert.Issuer.Organization[0] + ", " + s
	}
	return s
}

func cmdOpenssl(s *Shell, c *call) int {
	if len(c.args) == 0 || c.args[0] != "s_client" {
		c.usageError("only openssl s_client is here: openssl s_client -connect HOST:PORT [-starttls smtp|imap|pop3|ftp]")
		return 1
	}
	var connect, proto, servername string
	crlf, quiet := false, false
	args := c.args[1:]
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		need := func() string {
			if len(args) == 0 {
				return ""
			}
			v := args[0]
			args = args[1:]
			return v
		}
		switch a {
		case "-connect":
			connect = need()
		case "-starttls":
			proto = need()
		case "-servername":
			servername = need()
		case "-crlf":
			crlf = true
		case "-quiet", "-brief":
			quiet = true
		case "-showcerts", "-no_ign_eof", "-ign_eof":
		default:
			c.usageError("%s is not supported; use -connect, -starttls, -servername, -crlf, -quiet", a)
			return 1
		}
	}
	host, port, err := net.SplitHostPort(connect)
	if err != nil {
		c.usageError("-connect HOST:PORT is needed")
		return 1
	}
	conn, err := s.dial(c.ctx, "tcp", host, port, "openssl s_client -connect "+connect)
	if err != nil {
		return c.failf("connect:errno=111 (%v)", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(c.ctx, func() { conn.Close() })
	defer stop()
	fmt.Fprintln(c.out, "CONNECTED(00000003)")
	if proto != "" {
		if err := starttls(conn, proto, c.out); err != nil {
			return c.failf("%v", err)
		}
	}
	if servername == "" {
		servername = host
	}
	cfg := &tls.Config{ServerName: servername, InsecureSkipVerify: true}
	tc := tls.Client(conn, cfg)
	tc.SetDeadline(time.Now().Add(15 * time.Second))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return c.failf("handshake failure: %v", err)
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	verify := "0 (ok)"
	if len(st.PeerCertificates) > 0 {
		opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), DNSName: servername}
		if s.env.Deps.TLS != nil {
			opts.Roots = s.env.Deps.TLS.CertPool()
		}
		if net.ParseIP(servername) != nil {
			opts.DNSName = ""
		}
		for _, ic := range st.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if _, err := st.PeerCertificates[0].Verify(opts); err != nil {
			verify = "21 (unable to verify the first certificate: " + err.Error() + ")"
		}
	}
	if !quiet {
		var b strings.Builder
		b.WriteString("---\nCertificate chain\n")
		for i, cert := range st.PeerCertificates {
			fmt.Fprintf(&b, " %d s:%s\n   i:%s\n", i, subjectLine(cert), issuerLine(cert))
			fmt.Fprintf(&b, "   v:NotBefore: %s; NotAfter: %s\n", cert.NotBefore.UTC().Format("Jan _2 15:04:05 2006 GMT"), cert.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT"))
		}
		if len(st.PeerCertificates) > 0 {
			leaf := st.PeerCertificates[0]
			b.WriteString("---\nServer certificate\n")
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
			fmt.Fprintf(&b, "subject=%s\nissuer=%s\n", subjectLine(leaf), issuerLine(leaf))
			if len(leaf.DNSNames) > 0 || len(leaf.IPAddresses) > 0 {
				var sans []string
				for _, d := range leaf.DNSNames {
					sans = append(sans, "DNS:"+d)
				}
				for _, ip := range leaf.IPAddresses {
					sans = append(sans, "IP Address:"+ip.String())
				}
				fmt.Fprintf(&b, "X509v3 Subject Alternative Name: %s\n", strings.Join(sans, ", "))
			}
		}
		fmt.Fprintf(&b, "---\nNew, %s, Cipher is %s\n", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		fmt.Fprintf(&b, "Verify return code: %s\n---\n", verify)
		io.WriteString(c.out, b.String())
		flush(c.out)
	}
	return c.relay(tc, crlf, 0)
}

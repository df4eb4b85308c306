package smtp

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"

	"labd/internal/memconn"
)

// FuzzLineFilter feeds client bytes through the line filter, starting in
// command, DATA or SASL mode, as go-smtp would read them. Invariants: no panic; what the library
// gets is CRLF lines only (no bare LF, no CR before the CRLF); each line
// the filter hands on in command mode starts with a verb go-smtp knows,
// upper case; the filter's own answers are CRLF reply lines with a code.
func FuzzLineFilter(f *testing.F) {
	for _, s := range []string{
		"EHLO me\r\nMAIL FROM:<a@b> \r\nRCPT TO:<postmaster>\r\nDATA\r\n",
		"helo x\nvrfy alice\nVRFY\nHELP\nBDAT 10 LAST\n\n",
		"mail\tfrom:<a@b>\r\r\n", "x\r\ny\r\nz\r\nw\r\nv\r\nu\r\nt\r\ns\r\nr\r\nq\r\np\r\n",
		"STARTTLS\r\nSTARTTLS now\r\n", "QUIT", "NOOP\r",
	} {
		for mode := range 3 {
			f.Add([]byte(s), uint8(mode))
		}
	}
	f.Add([]byte("Subject: x\n\nbody\n..\n.\nQUIT\n"), uint8(modeData))
	f.Add([]byte("AGFsaWNlAGFsaWNl\nHELP\n"), uint8(modeSASL))
	f.Fuzz(func(t *testing.T, in []byte, startMode uint8) {
		src := memconn.New(in)
		c := newLineConn(src, false, nil, 0, "lab.test", func(arg string) string { return "252 2.1.5 " + arg })
		// As after the library's 354 (DATA) or 334 (SASL) reply.
		mode := int(startMode) % 3
		c.mode = mode
		buf := make([]byte, lineBuffer+16)
		mid := false
		for i := 0; ; i++ {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if i > len(in)+1 {
				t.Fatalf("more Reads than input bytes")
			}
			chunk := buf[:n]
			full := bytes.HasSuffix(chunk, []byte("\r\n"))
			if bytes.Contains(chunk[:max(0, len(chunk)-2)], []byte("\n")) || bytes.Contains(chunk, []byte("\r\r\n")) {
				t.Fatalf("the library got %q", chunk)
			}
			if full && !mid {
				switch mode {
				case modeCommand:
					verb, _, _ := strings.Cut(strings.TrimSuffix(string(chunk), "\r\n"), " ")
					if !knownVerbs[verb] {
						t.Fatalf("command line %q handed to the library (input %q)", chunk, in)
					}
				case modeData:
					if string(chunk) == ".\r\n" {
						mode = modeCommand
					}
				case modeSASL:
					mode = modeCommand // one response line
				}
			}
			mid = !full
		}
		for _, r := range strings.SplitAfter(src.Out.String(), "\r\n") {
			if r == "" {
				continue
			}
			if len(r) < 5 || !strings.HasSuffix(r, "\r\n") || strings.Count(r, "\n") != 1 || r[0] < '2' || r[0] > '5' || (r[3] != ' ' && r[3] != '-') {
				t.Fatalf("the filter answered %q", r)
			}
		}
	})
}

// FuzzReplyRewrite passes the library's reply writes through the filter:
// each write comes out unchanged (continuation lines held until the final
// line), except that 250-CHUNKING disappears and 250-STARTTLS is added
// before 250-PIPELINING where STARTTLS is offered.
func FuzzReplyRewrite(f *testing.F) {
	f.Add([]byte("250-labd\r\n\x00250-PIPELINING\r\n\x00250-CHUNKING\r\n\x00250 8BITMIME\r\n"), true)
	f.Add([]byte("354 go ahead\r\n\x00250 ok\r\n\x00334 \r\n\x00235 2.7.0 ok\r\n"), false)
	f.Fuzz(func(t *testing.T, writes []byte, offerTLS bool) {
		src := memconn.New(nil)
		c := newLineConn(src, false, nil, 0, "lab.test", nil)
		if offerTLS {
			c.tlsConfig = testTLSConfig
		}
		var want bytes.Buffer
		// A final line ends the fuzzed ones: continuation lines (NNN-) are
		// held back until the reply's last line and sent with it in one
		// write (sslscan reads an EHLO reply with one read).
		all := append(bytes.Split(writes, []byte{0}), []byte("250 end\r\n"))
		for _, w := range all {
			switch {
			case bytes.Equal(w, []byte("250-CHUNKING\r\n")):
			case bytes.Equal(w, []byte("250-PIPELINING\r\n")) && offerTLS:
				want.WriteString("250-STARTTLS\r\n")
				want.Write(w)
			default:
				want.Write(w)
			}
			if n, err := c.Write(w); err != nil || n != len(w) {
				t.Fatalf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if !bytes.Equal(src.Out.Bytes(), want.Bytes()) {
			t.Fatalf("wrote %q, want %q", src.Out.Bytes(), want.Bytes())
		}
	})
}

// testTLSConfig only marks STARTTLS as offered; no handshake happens here.
var testTLSConfig = &tls.Config{}

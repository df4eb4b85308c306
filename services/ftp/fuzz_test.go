package ftp

import (
	"bytes"
	"strings"
	"testing"

	"labd/internal/memconn"
)

// FuzzCtrlConn feeds a control connection's bytes, in chunks of a fuzzed
// size, through the HELP shim. Invariants: no panic; the library never
// sees a HELP line (the shim answers each one with a 214 or 502); every
// line the library sees is a line the client sent, in order.
func FuzzCtrlConn(f *testing.F) {
	f.Add([]byte("USER alice\r\nHELP\r\nPASS x\r\n"), uint8(3))
	f.Add([]byte("HELP RETR\nhelp  stor  \r\nHELPX\r\nNOOP\n"), uint8(1))
	f.Add([]byte("HEL"), uint8(0))
	f.Add([]byte("HELP"), uint8(2))
	f.Add([]byte("\x16\x03\x01HELP\r\n"), uint8(4))
	f.Add([]byte("HELP \xff\xfe\r\nHELP \t\r\n"), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		src := &memconn.Conn{In: in, Chunk: int(chunk) + 1}
		c := &ctrlConn{Conn: src, client: &client{}, help: true}
		var lib []byte
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			lib = append(lib, buf[:n]...)
			if err != nil {
				break
			}
		}
		if len(in) > 0 && in[0] == 0x16 {
			if !bytes.Equal(lib, in) {
				t.Fatalf("TLS bytes changed: %q -> %q", in, lib)
			}
			return
		}
		// What the library got is the client's lines minus the HELP lines.
		var want []byte
		for rest := in; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break // an incomplete last line is never complete
			}
			line := rest[:i+1]
			rest = rest[i+1:]
			if !isHelp(line) {
				want = append(want, line...)
			}
		}
		if !bytes.HasPrefix(lib, want) && !bytes.HasPrefix(want, lib) {
			t.Fatalf("library saw %q, want the non-HELP lines %q", lib, want)
		}
		for _, line := range bytes.SplitAfter(lib, []byte("\n")) {
			if isHelp(line) && bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("HELP line %q reached the library (all: %q)", line, lib)
			}
		}
		for _, reply := range bytes.SplitAfter(src.Out.Bytes(), []byte("\r\n")) {
			if len(reply) > 0 && !bytes.HasPrefix(reply, []byte("214")) && !bytes.HasPrefix(reply, []byte(" ")) && !bytes.HasPrefix(reply, []byte("502 ")) {
				t.Fatalf("the shim sent %q", reply)
			}
		}
	})
}

// FuzzHelpReply: any argument gets a 214 or 502 reply of one CRLF line
// (or the 214 list), never a panic.
func FuzzHelpReply(f *testing.F) {
	for _, s := range []string{"", "RETR", "retr extra", "NOPE", "\u00a0", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r := helpReply(arg)
		if !bytes.HasSuffix([]byte(r), []byte("\r\n")) || !(bytes.HasPrefix([]byte(r), []byte("214")) || bytes.HasPrefix([]byte(r), []byte("502 "))) {
			t.Fatalf("HELP %q -> %q", arg, r)
		}
		if strings.TrimSpace(arg) != "" && bytes.Count([]byte(r), []byte("\n")) != 1 {
			t.Fatalf("HELP %q -> several lines %q", arg, r)
		}
	})
}

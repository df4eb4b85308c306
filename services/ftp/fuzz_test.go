package ftp

import (
	"bytes"
	"strings"
	"testing"

	"labd/internal/memconn"
)

// FuzzCtrlConn feeds a control connection's bytes, in chunks of a fuzzed
// size, through the control shim. Invariants: no panic; the library never
// sees a HELP line (the shim answers it); every line the library sees is
// one the client sent; every reply the shim writes is a well-formed reply.
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
		// The library gets whole lines only, never a HELP line (the shim
		// answers those, and the commands it completes itself); every
		// line it gets came from the client (an ABOR sent as urgent data
		// gets its CRLF back).
		for _, line := range bytes.SplitAfter(lib, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if isHelpLine(line) && bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("HELP line %q reached the library (all: %q)", line, lib)
			}
			body := bytes.TrimRight(line, "\r\n")
			if len(body) > 0 && !bytes.Contains(in, body) {
				t.Fatalf("the library got %q, which the client never sent (%q)", line, in)
			}
		}
		for _, reply := range bytes.SplitAfter(src.Out.Bytes(), []byte("\r\n")) {
			if len(reply) == 0 || reply[0] == ' ' {
				continue
			}
			if len(reply) < 5 || reply[0] < '1' || reply[0] > '5' || reply[3] != ' ' && reply[3] != '-' {
				t.Fatalf("the shim sent %q", reply)
			}
		}
	})
}

func isHelpLine(b []byte) bool {
	if len(b) < 4 || !bytes.EqualFold(b[:4], []byte("HELP")) {
		return false
	}
	rest := string(b[4:])
	return rest == "" || rest[0] == ' ' || rest == "\r\n" || rest == "\n"
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

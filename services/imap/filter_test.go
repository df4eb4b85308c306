package imap

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
)

func TestBlankFilter(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"blank lines dropped", "\r\n\na NOOP\r\n\r\n\nb NOOP\n", "a NOOP\r\nb NOOP\n"},
		{"literal kept", "a APPEND INBOX {8}\r\nS: x\r\n\r\n\r\n\r\nb NOOP\r\n", "a APPEND INBOX {8}\r\nS: x\r\n\r\n\r\nb NOOP\r\n"},
		{"non-sync literal", "a APPEND INBOX {2+}\n\r\n\n\nb X\n", "a APPEND INBOX {2+}\n\r\n\nb X\n"},
		{"tls passthrough", "\x16\x03\x01\r\n\r\n", "\x16\x03\x01\r\n\r\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 1000} {
			var f blankFilter
			var got []byte
			for i := 0; i < len(tt.in); i += chunk {
				end := min(i+chunk, len(tt.in))
				got = append(got, f.filter([]byte(tt.in[i:end]))...)
			}
			if string(got) != tt.want {
				t.Errorf("%s (chunks of %d): %q, want %q", tt.name, chunk, got, tt.want)
			}
		}
	}
}

// The front filter hands the library every byte of commands it passes,
// whatever the chunking, and never panics.
func FuzzFront(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\nb\r\nc FOO\r\n",
		"a SEARCH TEXT {5+}\r\nhello\r\nb NOOP\r\n",
		"a SEARCH TEXT {5000+}\r\nx\r\n",
		"a APPEND INBOX {3}\r\nabc\r\n",
		"a IDLE\r\nDONE\r\n",
		"a ENABLE IMAP4rev2 UTF8=ACCEPT\r\n",
		"a FETCH 1:x FLAGS\r\na SEARCH SINCE 2024-01-01\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		c := &frontConn{}
		c.authed.Store(len(data)%2 == 0)
		step := int(chunk%64) + 1
		for i := 0; i < len(data); i += step {
			c.in = append(c.in, data[i:min(i+step, len(data))]...)
			for c.process() {
			}
		}
		var passed int
		for _, s := range c.out {
			passed += len(s.data)
		}
		if passed > len(data)+1024 {
			t.Fatalf("filter grew the input: %d > %d", passed, len(data))
		}
	})
}

func FuzzCheckSearch(f *testing.F) {
	for _, s := range []string{"FOO", "SINCE 2024-01-01", `OR (FROM "a b") NOT 1:*`, "RETURN (MIN) ALL", "((((", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSearch(s)
		checkSet(s)
	})
}

func TestFrontPasses(t *testing.T) {
	tests := []struct{ in, lib string }{
		{"a NOOP\r\nb\r\nc NOOP\r\n", "a NOOP\r\nc NOOP\r\n"},
		{"a LOGIN x y\r\nb FOO\r\n", "a LOGIN x y\r\n"},
		{"a APPEND INBOX {5}\r\nb\r\n\r\n c\r\n", "a APPEND INBOX {5}\r\nb\r\n\r\n c\r\n"},
		{"a SEARCH TEXT {4097+}\r\n" + strings.Repeat("x", 4097) + " ALL\r\nb NOOP\r\n", "b NOOP\r\n"},
		{"a IDLE\r\nDONE\r\n", "a IDLE\r\nDONE\r\n"},
		{"a ENABLE IMAP4rev2 UTF8=ACCEPT\r\n", "a ENABLE UTF8=ACCEPT\r\n"},
		{"a FETCH 0 FLAGS\r\nb FETCH 1:* FLAGS\r\n", "b FETCH 1:* FLAGS\r\n"},
		{"\x16\x03\x01a\r\n", ""}, // no TLS here: the filter sits above it
		{"a NOOP {5-}\r\n\r\nb NOOP\r\n", "a NOOP {5-}\r\nb NOOP\r\n"},
		{"a NOOP\r\ns STARTTLS\r\nx LOGIN a b\r\n", "a NOOP\r\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 5, 10000} {
			c := &frontConn{tlsConf: &tls.Config{}}
			for i := 0; i < len(tt.in); i += chunk {
				c.in = append(c.in, tt.in[i:min(i+chunk, len(tt.in))]...)
				for c.process() {
				}
			}
			var got []byte
			for _, s := range c.out {
				got = append(got, s.data...)
			}
			if string(got) != tt.lib {
				t.Errorf("%.40q (chunks of %d): library got %q, want %q", tt.in, chunk, got, tt.lib)
			}
		}
	}
}

func TestEnvelopeFixer(t *testing.T) {
	in := `* 1 FETCH (UID 1 ENVELOPE ("Mon, 1 Jan 2024 00:00:00 +0000" "a (b) (c)" (("A" NIL "a" "x.test") ("B" NIL "b" "x.test")) (("A" NIL "a" "x.test")) NIL (("C" NIL "c" "x.test") (NIL NIL "d" "x.test")) NIL NIL NIL "<id>") BODY[] {14}` + "\r\n" + `(x) (y) ENVELOPE (` + ")\r\n"
	want := `* 1 FETCH (UID 1 ENVELOPE ("Mon, 1 Jan 2024 00:00:00 +0000" "a (b) (c)" (("A" NIL "a" "x.test")("B" NIL "b" "x.test")) (("A" NIL "a" "x.test")) NIL (("C" NIL "c" "x.test")(NIL NIL "d" "x.test")) NIL NIL NIL "<id>") BODY[] {14}` + "\r\n" + `(x) (y) ENVELOPE (` + ")\r\n"
	for _, chunk := range []int{1, 7, 10000} {
		if got := fixChunks([]byte(in), chunk); string(got) != want {
			t.Errorf("chunks of %d:\n%s\nwant\n%s", chunk, got, want)
		}
	}
}

// fixChunks is what frontConn.Write does with each write: whole literal
// chunks pass as they are, the rest is fixed.
func fixChunks(in []byte, chunk int) []byte {
	var f envelopeFixer
	var got []byte
	for i := 0; i < len(in); i += chunk {
		p := in[i:min(i+chunk, len(in))]
		if f.literal(p) {
			got = append(got, p...)
			continue
		}
		got = append(got, f.fix(p)...)
	}
	return got
}

func FuzzEnvelopeFixer(f *testing.F) {
	f.Add([]byte(`* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL "a" "b") (NIL NIL "c" "d")) NIL NIL NIL NIL NIL NIL NIL))` + "\r\n"))
	f.Add([]byte("* 1 FETCH (BODY[] {12}\r\n((a) (b)) \"x (UID 1 ENVELOPE (NIL NIL ((NIL NIL \"a\" \"b\") (NIL NIL \"c\" \"d\")) NIL NIL NIL NIL NIL NIL NIL))\r\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		var e envelopeFixer
		out := e.fix(p)
		if len(out) > len(p)+1 {
			t.Fatalf("grew: %d > %d", len(out), len(p))
		}
		// Written in pieces, with literal pieces passed whole, the output
		// is the same.
		for _, chunk := range []int{1, 3, 16} {
			if got := fixChunks(p, chunk); string(got) != string(out) {
				t.Fatalf("chunks of %d: %q, whole: %q", chunk, got, out)
			}
		}
	})
}

// The fixer that skips runs gives what the byte-by-byte one gave, in
// whatever pieces the output is written.
func FuzzEnvelopeFixerSame(f *testing.F) {
	f.Add([]byte(`* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL "a" "b") (NIL NIL "c" "d")) NIL NIL NIL NIL NIL NIL NIL))`+"\r\n"), uint8(5))
	f.Add([]byte("* 1 FETCH (BODY[] {12}\r\n((a) (b)) \"x (UID 1 ENVELOPE (NIL NIL ((NIL NIL \"a\\\\\" \"b\") (NIL NIL \"c\" \"d\")) NIL NIL NIL NIL NIL NIL NIL))\r\n"), uint8(3))
	f.Add([]byte("* 2 FETCH (UID 2 BODY[HEADER.FIELDS (FROM)] {0}\r\n ENVELOPE (\"d\" \"s\" ((\"A\" NIL \"a\" \"x\") (\"B\" NIL \"b\" \"x\")) NIL NIL NIL NIL NIL NIL NIL) BODY[] {100000000000000000000}\r\nx)\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, p []byte, chunk uint8) {
		n := int(chunk%32) + 1
		var ref refFixer
		var want []byte
		for i := 0; i < len(p); i += n {
			q := p[i:min(i+n, len(p))]
			if ref.literal(q) {
				want = append(want, q...)
				continue
			}
			want = append(want, ref.fix(q)...)
		}
		if got := fixChunks(p, n); !bytes.Equal(got, want) {
			t.Fatalf("chunks of %d: %q, byte by byte: %q", n, got, want)
		}
	})
}

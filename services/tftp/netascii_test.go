package tftp

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNetasciiCodec(t *testing.T) {
	for _, tc := range []struct{ disk, wire string }{
		{"", ""},
		{"a\nb\n", "a\r\nb\r\n"},
		{"\r", "\r\x00"},
		{"x\r\ny", "x\r\x00\r\ny"},
		{"\n\n\r\r", "\r\n\r\n\r\x00\r\x00"},
		{"no line end", "no line end"},
	} {
		// Encode, reading one byte at a time to cross every boundary.
		enc, err := io.ReadAll(iotest.OneByteReader(newNetasciiEncoder(strings.NewReader(tc.disk))))
		if err != nil || string(enc) != tc.wire {
			t.Errorf("encode %q = %q, %v; want %q", tc.disk, enc, err, tc.wire)
		}
		n, err := netasciiSize(strings.NewReader(tc.disk))
		if err != nil || n != int64(len(tc.wire)) {
			t.Errorf("size of %q = %d, want %d", tc.disk, n, len(tc.wire))
		}
		// Decode, writing one byte at a time (a CR at the end of a block).
		var out bytes.Buffer
		dec := newNetasciiDecoder(&out)
		for i := range len(tc.wire) {
			if _, err := dec.Write([]byte{tc.wire[i]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := dec.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.disk {
			t.Errorf("decode %q = %q, want %q", tc.wire, out.String(), tc.disk)
		}
	}
	// Not netascii, kept as sent: a CR followed by a plain byte, a final CR.
	var out bytes.Buffer
	dec := newNetasciiDecoder(&out)
	_, _ = dec.Write([]byte("a\rb\r"))
	_ = dec.Close()
	if out.String() != "a\rb\r" {
		t.Errorf("lenient decode = %q", out.String())
	}
}

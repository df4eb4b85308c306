package tftp

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzNetascii checks both directions of the netascii codec: disk text
// encoded then decoded comes back byte for byte, netasciiSize predicts the
// encoded length, and the decoder does not care where blocks end.
func FuzzNetascii(f *testing.F) {
	f.Add([]byte("a\nb\n"), uint16(1))
	f.Add([]byte("\r"), uint16(0))
	f.Add([]byte("x\r\ny\r\x00z\r"), uint16(3))
	f.Add([]byte("\n\n\r\r\x00"), uint16(512))
	f.Fuzz(func(t *testing.T, disk []byte, cut uint16) {
		wire, err := io.ReadAll(iotest.OneByteReader(newNetasciiEncoder(bytes.NewReader(disk))))
		if err != nil {
			t.Fatal(err)
		}
		n, err := netasciiSize(bytes.NewReader(disk))
		if err != nil || n != int64(len(wire)) {
			t.Fatalf("netasciiSize(%q) = %d, %v; encoded length %d", disk, n, err, len(wire))
		}
		if got := decodeAll(t, wire, int(cut)); !bytes.Equal(got, disk) {
			t.Fatalf("round trip of %q: wire %q decodes as %q", disk, wire, got)
		}
		// Any bytes (not only valid netascii) as received: the decoding
		// must not depend on the block boundaries.
		whole := decodeAll(t, disk, 0)
		if got := decodeAll(t, disk, int(cut)); !bytes.Equal(got, whole) {
			t.Fatalf("decode of %q depends on blocks: whole %q, cut at %d %q", disk, whole, cut, got)
		}
	})
}

// decodeAll decodes wire in blocks of size block (0: in one Write).
func decodeAll(t *testing.T, wire []byte, block int) []byte {
	t.Helper()
	var out bytes.Buffer
	dec := newNetasciiDecoder(&out)
	if block <= 0 {
		block = len(wire) + 1
	}
	for p := wire; len(p) > 0; {
		k := min(block, len(p))
		if n, err := dec.Write(p[:k]); err != nil || n != k {
			t.Fatalf("decoder Write = %d, %v", n, err)
		}
		p = p[k:]
	}
	if err := dec.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

package telnet

import (
	"bytes"
	"testing"
)

// FuzzNVT feeds raw client bytes to the NVT parser. Invariants: no panic;
// where the reads end does not matter (whole stream and one byte at a time
// give the same data, the same state and the same negotiation replies);
// the data out is never longer than the bytes in.
func FuzzNVT(f *testing.F) {
	f.Add([]byte("user\r\npass\r\x00ls\n"))
	f.Add([]byte{cmdIAC, cmdDO, optEcho, cmdIAC, cmdWILL, optNAWS, cmdIAC, cmdSB, optNAWS, 0, 80, 0, 24, cmdIAC, cmdSE})
	f.Add([]byte{cmdIAC, cmdWILL, optTTYPE, cmdIAC, cmdSB, optTTYPE, ttypeIS, 'x', 't', 'e', 'r', 'm', cmdIAC, cmdSE, 'a'})
	f.Add([]byte{cmdIAC, cmdSB, optTTYPE, ttypeIS, 'v', cmdIAC, cmdIAC, cmdIAC, cmdIP, 'z'}) // SB cut by a command
	f.Add([]byte{cmdIAC, cmdAYT, cmdIAC, cmdEC, cmdIAC, cmdEL, cmdIAC, cmdBRK, cmdIAC, cmdIAC})
	f.Add([]byte{cmdIAC, cmdDONT, optEcho, cmdIAC, cmdWONT, optSGA, cmdIAC, cmdDO, 99, cmdIAC})
	f.Fuzz(func(t *testing.T, in []byte) {
		var wWhole, wSplit bytes.Buffer
		whole := newNVT(fakeConn{&wWhole}, 0)
		split := newNVT(fakeConn{&wSplit}, 0)
		outWhole := whole.parse(in, nil)
		var outSplit []byte
		for i := range in {
			outSplit = split.parse(in[i:i+1], outSplit)
		}
		if !bytes.Equal(outWhole, outSplit) {
			t.Fatalf("data depends on read boundaries: whole %q, split %q", outWhole, outSplit)
		}
		if !bytes.Equal(wWhole.Bytes(), wSplit.Bytes()) {
			t.Fatalf("replies depend on read boundaries: whole %q, split %q", wWhole.Bytes(), wSplit.Bytes())
		}
		if whole.ttype != split.ttype || whole.width != split.width || whole.height != split.height || whole.state != split.state {
			t.Fatalf("state depends on read boundaries: ttype %q/%q size %dx%d/%dx%d", whole.ttype, split.ttype, whole.width, whole.height, split.width, split.height)
		}
		if len(outWhole) > len(in) {
			t.Fatalf("%d data bytes out of %d bytes in", len(outWhole), len(in))
		}
		if len(whole.sb) > maxSB {
			t.Fatalf("SB buffer holds %d bytes (max %d)", len(whole.sb), maxSB)
		}
		for _, c := range whole.ttype {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("terminal type %q has a control byte", whole.ttype)
			}
		}
	})
}

// FuzzNVTWrite checks the output side against the input side: what Write
// sends, parsed back, is what the shell wrote with its line ends as the
// parser normalises them (CR LF, LF -> CR; NUL dropped).
func FuzzNVTWrite(f *testing.F) {
	f.Add([]byte("a\nb\r\nc\rd\xff"))
	f.Add([]byte("\r\r\n\n\x00\r\x00\xff\xff"))
	f.Add([]byte("$ "))
	f.Fuzz(func(t *testing.T, p []byte) {
		var w bytes.Buffer
		n := newNVT(fakeConn{&w}, 0)
		if k, err := n.Write(p); err != nil || k != len(p) {
			t.Fatalf("Write = %d, %v", k, err)
		}
		wire := w.Bytes()
		for i := 0; i < len(wire); i++ {
			if wire[i] == '\n' && (i == 0 || wire[i-1] != '\r') {
				t.Fatalf("bare LF on the wire: %q", wire)
			}
			if wire[i] == '\r' && (i+1 >= len(wire) || (wire[i+1] != '\n' && wire[i+1] != 0)) {
				t.Fatalf("bare CR on the wire: %q", wire)
			}
		}
		var want []byte
		for i, b := range p {
			switch {
			case b == '\n' && i > 0 && p[i-1] == '\r':
			case b == '\n':
				want = append(want, '\r')
			case b == 0:
			default:
				want = append(want, b)
			}
		}
		var sink bytes.Buffer
		got := newNVT(fakeConn{&sink}, 0).parse(wire, nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("Write(%q) sent %q, which parses back as %q, want %q", p, wire, got, want)
		}
		if sink.Len() != 0 {
			t.Fatalf("the server's own output made the parser answer %q", sink.Bytes())
		}
	})
}

package telnet

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestParserSplit feeds the same stream whole and one byte at a time: the
// state machine must not care where reads end.
func TestParserSplit(t *testing.T) {
	stream := []byte{'a', cmdIAC, cmdIAC, 'b', '\r', 0, 'c', '\r', '\n', 'd', '\n',
		cmdIAC, cmdSB, optNAWS, 0, 80, 0, 24, cmdIAC, cmdSE, 'e',
		cmdIAC, cmdSB, optTTYPE, ttypeIS, 'v', 't', '1', '0', '0', cmdIAC, cmdSE,
		cmdIAC, cmdNOP, cmdIAC, cmdIP, 'f',
		cmdIAC, cmdSB, optNAWS, 0, 255, 255, 0, 50, cmdIAC, cmdSE, // 255 doubled inside SB
	}
	want := "a\xffb\rc\rd\re\x03f"
	for _, split := range []bool{false, true} {
		var w bytes.Buffer
		n := newNVT(fakeConn{&w}, 0)
		var out []byte
		if split {
			for _, b := range stream {
				out = n.parse([]byte{b}, out)
			}
		} else {
			out = n.parse(stream, out)
		}
		if string(out) != want {
			t.Errorf("split=%v: data %q, want %q", split, out, want)
		}
		if n.ttype != "vt100" || n.width != 255 || n.height != 50 {
			t.Errorf("split=%v: ttype %q size %dx%d", split, n.ttype, n.width, n.height)
		}
	}
}

// TestSubnegotiationBounded sends an endless SB: the buffer stays bounded
// and the parser recovers at IAC SE.
func TestSubnegotiationBounded(t *testing.T) {
	var w bytes.Buffer
	n := newNVT(fakeConn{&w}, 0)
	n.parse([]byte{cmdIAC, cmdSB, optTTYPE, ttypeIS}, nil)
	junk := bytes.Repeat([]byte("A"), 1<<20)
	n.parse(junk, nil)
	if cap(n.sb) > 4*maxSB {
		t.Errorf("SB buffer grew to %d", cap(n.sb))
	}
	out := n.parse([]byte{cmdIAC, cmdSE, 'o', 'k'}, nil)
	if string(out) != "ok" || n.ttype != "" {
		t.Errorf("after an overlong SB: data %q ttype %q", out, n.ttype)
	}
	// Output side: LF -> CR LF, bare CR -> CR NUL, 255 doubled.
	w.Reset()
	n.Write([]byte("a\nb\r\nc\rd\xff"))
	if got := w.String(); got != "a\r\nb\r\nc\r\x00d\xff\xff" {
		t.Errorf("NVT output %q", got)
	}
}

type fakeConn struct{ w io.Writer }

func (f fakeConn) Read([]byte) (int, error)           { return 0, io.EOF }
func (f fakeConn) Write(b []byte) (int, error)        { return f.w.Write(b) }
func (f fakeConn) Close() error                       { return nil }
func (f fakeConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (f fakeConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (f fakeConn) SetDeadline(time.Time) error        { return nil }
func (f fakeConn) SetReadDeadline(time.Time) error    { return nil }
func (f fakeConn) SetWriteDeadline(t time.Time) error { return nil }

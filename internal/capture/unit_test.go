package capture_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"labd/internal/capture"
	"labd/internal/pcapng"
	"labd/internal/sessions"
)

// TestTCPRebuild checks, without tshark, that the rebuilt TCP stream
// carries every byte once, in order, with consistent numbers, over IPv4
// and IPv6, for big chunks and for ciphertext.
func TestTCPRebuild(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	big := bytes.Repeat([]byte("abcdefghij"), 5000) // 50 000 bytes: many segments
	entries := []sessions.Entry{
		{Time: t0.Add(time.Millisecond), Dir: sessions.FromServer, Data: []byte("220 ready\r\n")},
		{Time: t0.Add(2 * time.Millisecond), Dir: sessions.FromClient, Data: []byte("DATA\r\n")},
		{Time: t0.Add(3 * time.Millisecond), Dir: sessions.Note, Data: []byte("a note")},
		{Time: t0.Add(3 * time.Millisecond), Dir: sessions.FromClient, Data: big},
		{Time: t0.Add(4 * time.Second), Dir: sessions.FromServer, Len: 5, TLS: true, Wire: []byte{0x17, 3, 3, 0, 0}},
	}
	for _, tc := range []struct{ local, remote string }{
		{"192.0.2.1:25", "192.0.2.9:40000"},
		{"[2001:db8::1]:25", "[2001:db8::9]:40000"},
	} {
		in := sessions.Info{ID: 7, Proto: "smtp", Transport: "tcp", Local: tc.local, Remote: tc.remote, Start: t0, End: t0.Add(5 * time.Second)}
		var buf bytes.Buffer
		if err := capture.Write(&buf, []capture.Session{{Info: in, Entries: entries}}); err != nil {
			t.Fatal(err)
		}
		f, err := pcapng.Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.Comment, "Rebuilt by labd") {
			t.Errorf("comment %q", f.Comment)
		}
		var client, server []byte
		next := map[string]uint32{}
		var fins int
		last := time.Time{}
		for i, p := range f.Packets {
			if p.Time.Before(last) {
				t.Errorf("packet %d goes back in time", i)
			}
			last = p.Time
			d, err := pcapng.Decode(p.Data)
			if err != nil {
				t.Fatalf("%s: packet %d: %v", tc.local, i, err)
			}
			if len(d.Payload) > 1460 {
				t.Errorf("segment of %d bytes exceeds the MSS", len(d.Payload))
			}
			src := d.Src.String()
			if d.Flags&pcapng.SYN == 0 && d.Seq != next[src] {
				t.Fatalf("packet %d: seq %d, want %d", i, d.Seq, next[src])
			}
			if d.Flags&pcapng.ACK != 0 && d.Ack != next[d.Dst.String()] {
				t.Fatalf("packet %d: ack %d, want %d", i, d.Ack, next[d.Dst.String()])
			}
			next[src] = d.Seq + uint32(len(d.Payload))
			if d.Flags&(pcapng.SYN|pcapng.FIN) != 0 {
				next[src]++
			}
			if d.Flags&pcapng.FIN != 0 {
				fins++
			}
			if d.Src.Port() == 25 {
				server = append(server, d.Payload...)
			} else {
				client = append(client, d.Payload...)
			}
		}
		if want := append([]byte("DATA\r\n"), big...); !bytes.Equal(client, want) {
			t.Errorf("client stream: %d bytes, want %d", len(client), len(want))
		}
		if want := "220 ready\r\n\x17\x03\x03\x00\x00"; string(server) != want {
			t.Errorf("server stream %q", server)
		}
		if fins != 2 {
			t.Errorf("%d FINs", fins)
		}
	}
}

func TestWildcardServerAddress(t *testing.T) {
	t0 := time.Now()
	in := sessions.Info{ID: 1, Proto: "dns", Transport: "udp", Local: "0.0.0.0:53", Remote: "127.0.0.1:5353", Start: t0, End: t0, Rendered: true}
	var buf bytes.Buffer
	if err := capture.Write(&buf, []capture.Session{{Info: in, Entries: []sessions.Entry{{Time: t0, Dir: sessions.FromClient, Data: []byte("q"), Wire: []byte{1, 2}}}}}); err != nil {
		t.Fatal(err)
	}
	f, err := pcapng.Read(&buf)
	if err != nil || len(f.Packets) != 1 {
		t.Fatalf("%v, %d packets", err, len(f.Packets))
	}
	d, err := pcapng.Decode(f.Packets[0].Data)
	if err != nil || d.Dst.String() != "127.0.0.1:53" {
		t.Errorf("datagram to %v (%v), want 127.0.0.1:53", d.Dst, err)
	}
}

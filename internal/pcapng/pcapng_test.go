package pcapng

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "labd test", "rebuilt from a recording")
	if err != nil {
		t.Fatal(err)
	}
	keys := []byte("CLIENT_RANDOM 00 11\n")
	if err := w.WriteSecrets(SecretsTLSKeyLog, keys); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.UTC)
	c := netip.MustParseAddrPort("192.0.2.7:50123")
	s := netip.MustParseAddrPort("192.0.2.1:8080")
	c6 := netip.MustParseAddrPort("[2001:db8::7]:50123")
	s6 := netip.MustParseAddrPort("[2001:db8::1]:53")
	tests := []struct {
		name string
		pkt  func() ([]byte, error)
		want Decoded
	}{
		{"syn4", func() ([]byte, error) {
			return TCP(Segment{Src: c, Dst: s, Seq: 7, Flags: SYN, Window: 65535, MSS: 1460})
		},
			Decoded{Src: c, Dst: s, Proto: ProtoTCP, Seq: 7, Flags: SYN, Payload: []byte{}}},
		{"data4-odd", func() ([]byte, error) {
			return TCP(Segment{Src: s, Dst: c, Seq: 9, Ack: 8, Flags: ACK | PSH, Window: 65535, Payload: []byte("220 hi\r\n!")})
		}, Decoded{Src: s, Dst: c, Proto: ProtoTCP, Seq: 9, Ack: 8, Flags: ACK | PSH, Payload: []byte("220 hi\r\n!")}},
		{"udp6", func() ([]byte, error) { return UDP(c6, s6, []byte{1, 2, 3}) },
			Decoded{Src: c6, Dst: s6, Proto: ProtoUDP, Payload: []byte{1, 2, 3}}},
		{"mapped", func() ([]byte, error) {
			return UDP(netip.MustParseAddrPort("[::ffff:127.0.0.1]:1"), netip.MustParseAddrPort("127.0.0.1:69"), nil)
		}, Decoded{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:69"), Proto: ProtoUDP, Payload: []byte{}}},
	}
	for i, tc := range tests {
		p, err := tc.pkt()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		comment := ""
		if i == 0 {
			comment = "first"
		}
		if err := w.WritePacket(t0.Add(time.Duration(i)*time.Microsecond), p, comment); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Comment != "rebuilt from a recording" || f.LinkType != LinkTypeRaw {
		t.Errorf("section: comment %q linktype %d", f.Comment, f.LinkType)
	}
	if len(f.Secrets) != 1 || f.Secrets[0].Type != SecretsTLSKeyLog || !bytes.Equal(f.Secrets[0].Data, keys) {
		t.Errorf("secrets: %+v", f.Secrets)
	}
	if len(f.Packets) != len(tests) {
		t.Fatalf("%d packets read back, want %d", len(f.Packets), len(tests))
	}
	if f.Packets[0].Comment != "first" || !f.Packets[0].Time.Equal(t0) {
		t.Errorf("packet 0: comment %q time %v", f.Packets[0].Comment, f.Packets[0].Time)
	}
	for i, tc := range tests {
		d, err := Decode(f.Packets[i].Data)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d.Src != tc.want.Src || d.Dst != tc.want.Dst || d.Proto != tc.want.Proto || d.Seq != tc.want.Seq ||
			d.Ack != tc.want.Ack || d.Flags != tc.want.Flags || !bytes.Equal(d.Payload, tc.want.Payload) {
			t.Errorf("%s: decoded %+v, want %+v", tc.name, d, tc.want)
		}
	}
	// A flipped payload bit must fail the checksum.
	p := append([]byte(nil), f.Packets[1].Data...)
	p[len(p)-1] ^= 1
	if _, err := Decode(p); err == nil {
		t.Error("corrupted packet decoded without error")
	}
	if _, err := TCP(Segment{Src: c, Dst: s6}); err == nil {
		t.Error("mixed families accepted")
	}
	if os.Getenv("LABD_WRITE_SEEDS") != "" {
		_ = os.WriteFile(filepath.Join("testdata", "roundtrip.pcapng"), buf.Bytes(), 0o644)
	}
}

func seeds(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "roundtrip.pcapng"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
}

func FuzzRead(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What was read must write back and read again the same.
		var out bytes.Buffer
		w, _ := NewWriter(&out, "", file.Comment)
		for _, s := range file.Secrets {
			w.WriteSecrets(s.Type, s.Data)
		}
		for _, p := range file.Packets {
			w.WritePacket(p.Time, p.Data, p.Comment)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := Read(&out)
		if err != nil {
			t.Fatalf("rewritten file unreadable: %v", err)
		}
		if len(again.Packets) != len(file.Packets) || len(again.Secrets) != len(file.Secrets) {
			t.Fatalf("rewrite lost blocks")
		}
	})
}

func FuzzDecode(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "roundtrip.pcapng"))
	if err != nil {
		f.Fatal(err)
	}
	file, err := Read(bytes.NewReader(b))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range file.Packets {
		f.Add(p.Data)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := Decode(p)
		if err != nil {
			return
		}
		// A packet that decodes rebuilds to the same header fields.
		var re []byte
		if d.Proto == ProtoUDP {
			re, err = UDP(d.Src, d.Dst, d.Payload)
		} else {
			re, err = TCP(Segment{Src: d.Src, Dst: d.Dst, Seq: d.Seq, Ack: d.Ack, Flags: d.Flags, Payload: d.Payload})
		}
		if err != nil {
			t.Fatal(err)
		}
		d2, err := Decode(re)
		if err != nil || d2.Src != d.Src || d2.Dst != d.Dst || d2.Seq != d.Seq || !bytes.Equal(d2.Payload, d.Payload) {
			t.Fatalf("rebuild differs: %+v %v", d2, err)
		}
	})
}

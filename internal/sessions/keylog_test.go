package sessions

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeyLogFollowsTheSession runs two TLS connections through one server
// config: each session gets the secrets of its own handshake only, and
// keeps the ciphertext that they decrypt.
func TestKeyLogFollowsTheSession(t *testing.T) {
	r := New(Options{KeyLog: true})
	l, addr := pipeListener(t, r, ListenerOptions{Proto: "x"})
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, KeyLogWriter: r.KeyLogWriter()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				tc.Write([]byte("hello"))
				tc.Close()
			}()
		}
	}()
	var randoms []string
	for i := 0; i < 2; i++ {
		var own bytes.Buffer
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, KeyLogWriter: &own})
		io.ReadAll(tc)
		tc.Close()
		randoms = append(randoms, strings.Fields(own.String())[1])
	}
	for deadline := time.Now().Add(5 * time.Second); len(r.Live()) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sessions still open")
		}
	}
	found := 0
	for _, in := range r.List() {
		s, _ := r.Get(in.ID)
		k := string(s.KeyLog())
		if k == "" {
			t.Errorf("session %d: no secrets", in.ID)
			continue
		}
		for i, rnd := range randoms {
			if strings.Contains(k, rnd) {
				found++
				if strings.Contains(k, randoms[1-i]) {
					t.Errorf("session %d holds the other session's secrets", in.ID)
				}
			}
		}
		var wire int
		for _, e := range s.Transcript() {
			wire += len(e.Wire)
		}
		if wire == 0 {
			t.Errorf("session %d kept no ciphertext", in.ID)
		}
	}
	if found != 2 {
		t.Errorf("%d sessions matched their client random, want 2", found)
	}
	r.randMu.Lock()
	left := len(r.randoms)
	r.randMu.Unlock()
	if left != 0 {
		t.Errorf("%d client randoms still indexed after the sessions closed", left)
	}
	if New(Options{}).KeyLogWriter() != nil {
		t.Error("key log writer without Options.KeyLog")
	}
}

// TestCiphertextIsBounded: ciphertext fills the transcript bound, then
// only its size is counted, and what was kept is a prefix of the stream.
func TestCiphertextIsBounded(t *testing.T) {
	r := New(Options{TranscriptBytes: 4096})
	s := r.Open("imaps", "tcp", "a", "b")
	s.MarkTLS()
	for i := 0; i < 200; i++ {
		dir := Direction(i % 2)
		s.add(Entry{Dir: dir, Len: 100, TLS: true, Wire: make([]byte, 100)})
		s.add(Entry{Dir: dir, Len: 50, TLS: true, Wire: make([]byte, 50)})
	}
	var lens [2]int
	wire, gap := 0, false
	for _, e := range s.Transcript() {
		if e.Dir == Note {
			continue
		}
		lens[e.Dir] += e.Len
		if len(e.Wire) < e.Len {
			gap = true
		} else if gap && len(e.Wire) > 0 {
			t.Fatal("ciphertext kept after a chunk that was dropped")
		}
		wire += len(e.Wire)
	}
	if wire == 0 || wire > 4096 {
		t.Errorf("%d bytes of ciphertext kept for a 4 KiB bound", wire)
	}
	if !s.Info().Truncated {
		t.Error("not marked truncated")
	}
	if lens[0]+lens[1] <= wire {
		t.Errorf("encrypted sizes stopped counting with the ciphertext: %v, %d kept", lens, wire)
	}
}

// FuzzKeyLog feeds key log writes and ClientHello chunks of any shape: no
// panic, and a line reaches a session only with that session's random.
func FuzzKeyLog(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "keylog.txt"))
	if err != nil {
		f.Fatal(err)
	}
	hello := append([]byte{0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3}, bytes.Repeat([]byte{1}, 32)...)
	f.Add(seed, hello)
	f.Add([]byte("CLIENT_RANDOM zz 00\n\n \x00"), []byte{0x16, 3, 3})
	f.Fuzz(func(t *testing.T, lines, chunk []byte) {
		r := New(Options{KeyLog: true})
		s := r.Open("x", "tcp", "a", "b")
		s.clientHello(chunk)
		if n, err := r.KeyLogWriter().Write(lines); n != len(lines) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		k := s.KeyLog()
		if len(k) > maxKeyLog {
			t.Fatalf("%d bytes of secrets kept", len(k))
		}
		if len(k) > 0 {
			if len(chunk) < 43 {
				t.Fatal("secrets kept without a ClientHello")
			}
			want := strings.ToLower(hex.EncodeToString(chunk[11:43]))
			for _, line := range strings.Split(strings.TrimSpace(string(k)), "\n") {
				if f := strings.Fields(line); len(f) != 3 || strings.ToLower(f[1]) != want {
					t.Fatalf("line %q kept for random %s", line, want)
				}
			}
		}
		s.Close("ok")
	})
}

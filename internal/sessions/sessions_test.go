package sessions

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func pipeListener(t *testing.T, r *Registry, opts ListenerOptions) (*Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(r, ln, opts)
	t.Cleanup(func() { l.Close() })
	return l, ln.Addr().String()
}

func TestConnRecordsBothDirections(t *testing.T) {
	r := New(Options{})
	l, addr := pipeListener(t, r, ListenerOptions{Proto: "echo"})
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Write([]byte("you said " + string(buf[:n])))
		c.Close()
	}()
	c, _ := net.Dial("tcp", addr)
	c.Write([]byte("hello\r\n"))
	reply, _ := io.ReadAll(c)
	c.Close()
	if string(reply) != "you said hello\r\n" {
		t.Fatalf("reply %q", reply)
	}
	info := waitClosed(t, r)
	if info.Proto != "echo" || info.BytesIn != 7 || info.BytesOut != 16 || info.Remote != c.LocalAddr().String() {
		t.Errorf("info: %+v", info)
	}
	s, _ := r.Get(info.ID)
	tr := s.Transcript()
	if len(tr) != 2 || tr[0].Dir != FromClient || string(tr[0].Data) != "hello\r\n" || tr[1].Dir != FromServer {
		t.Errorf("transcript: %+v", tr)
	}
}

func waitClosed(t *testing.T, r *Registry) Info {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, in := range r.List() {
			if !in.Open {
				return in
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no closed session")
	return Info{}
}

func TestTranscriptBounds(t *testing.T) {
	r := New(Options{TranscriptBytes: 10 + entryCost, TotalBytes: 25 + 2*entryCost, History: 2})
	s := r.Open("x", "tcp", "a", "b")
	s.Record(FromClient, []byte("0123456789abcdef"), false)
	s.Record(FromClient, []byte("more"), false)
	tr := s.Transcript()
	if len(tr) != 1 || string(tr[0].Data) != "0123456789" || !s.Info().Truncated {
		t.Errorf("per-session bound: %+v", tr)
	}
	s.Close("ok")
	for i := 0; i < 3; i++ {
		x := r.Open("x", "tcp", "a", "b")
		x.Record(FromServer, []byte("0123456789"), false)
		x.Close("ok")
	}
	if n := len(r.List()); n != 2 {
		t.Errorf("history bound: %d sessions kept, want 2", n)
	}
	// The bound is per protocol: a flood of one does not evict another.
	keep := r.Open("ssh", "tcp", "a", "b")
	keep.Close("ok")
	for i := 0; i < 5; i++ {
		r.Open("dns", "udp", "a", "b").Close("ok")
	}
	if _, ok := r.Get(keep.ID()); !ok {
		t.Error("a burst of DNS sessions evicted the SSH session")
	}
	if tot := r.total.Load(); tot > 25+2*entryCost {
		t.Errorf("total transcript bytes %d over the bound", tot)
	}
}

func TestTLSIsDetectedAndNotRecorded(t *testing.T) {
	r := New(Options{})
	l, addr := pipeListener(t, r, ListenerOptions{Proto: "x"})
	cert := selfSigned(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("220 ready for TLS\r\n"))
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		tc.Write([]byte("secret server data"))
		tc.Close()
	}()
	c, _ := net.Dial("tcp", addr)
	buf := make([]byte, 19)
	io.ReadFull(c, buf)
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	io.ReadAll(tc)
	tc.Close()
	info := waitClosed(t, r)
	if !info.TLS {
		t.Error("TLS not detected")
	}
	s, _ := r.Get(info.ID)
	var sawNote, sawEncrypted bool
	for _, e := range s.Transcript() {
		if strings.Contains(string(e.Data), "secret") {
			t.Error("encrypted bytes recorded as text")
		}
		if e.Dir == Note && strings.Contains(string(e.Data), "TLS") {
			sawNote = true
		}
		if e.TLS && e.Data == nil && e.Len > 0 {
			sawEncrypted = true
		}
	}
	if !sawNote || !sawEncrypted {
		t.Errorf("transcript lacks the TLS note or encrypted sizes: %+v", s.Transcript())
	}
}

func TestPerIPCapAndDrain(t *testing.T) {
	r := New(Options{})
	l, addr := pipeListener(t, r, ListenerOptions{Proto: "x", MaxPerIP: 1, Reject: func(c net.Conn) { c.Write([]byte("421 busy\r\n")) }})
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c1, _ := net.Dial("tcp", addr)
	defer c1.Close()
	<-accepted
	c2, _ := net.Dial("tcp", addr)
	got, _ := io.ReadAll(c2)
	if string(got) != "421 busy\r\n" {
		t.Errorf("second connection from one address: %q", got)
	}
	// Drain closes what is still open when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	l.Close()
	l.Drain(ctx)
	if l.Active() != 0 {
		t.Error("drain left connections open")
	}
	c1.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after drain")
	}
}

func TestGetFindsSessionsClosedOutOfOrder(t *testing.T) {
	r := New(Options{History: 10})
	a := r.Open("x", "tcp", "l", "r1")
	b := r.Open("x", "tcp", "l", "r2")
	c := r.Open("x", "tcp", "l", "r3")
	c.Close("ok")
	a.Close("ok")
	b.Close("ok")
	for _, s := range []*Session{a, b, c} {
		if got, ok := r.Get(s.ID()); !ok || got != s {
			t.Errorf("Get(%d) failed", s.ID())
		}
	}
}

// Entries without data (encrypted chunks of a long TLS session) count
// against the bound too: a long IMAPS session must not grow without end.
func TestEncryptedEntriesAreBounded(t *testing.T) {
	r := New(Options{TranscriptBytes: 1024})
	s := r.Open("imaps", "tcp", "a", "b")
	s.MarkTLS()
	for i := 0; i < 10000; i++ {
		s.add(Entry{Dir: FromClient, Len: 40, TLS: true})
		s.add(Entry{Dir: FromServer, Len: 90, TLS: true})
	}
	if n := len(s.Transcript()); n > 1024/entryCost+1 {
		t.Errorf("%d entries kept for a 1 KiB bound", n)
	}
	if !s.full.Load() {
		t.Error("transcript never marked full")
	}
}

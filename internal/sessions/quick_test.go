package sessions

import (
	"net"
	"testing"
)

// TestOpenQuick: a quick session is invisible until it closes, then is
// in the history with everything recorded, counted in today's sessions,
// and its observers saw "open" (as Open would have shown it) and "close".
// Live registers it early, as Open would have.
func TestOpenQuick(t *testing.T) {
	r := New(Options{})
	var events []Event
	cancel := r.Observe(func(e Event) { events = append(events, e) })
	defer cancel()

	s := r.OpenQuick("dns", "udp", "127.0.0.1:53", "127.0.0.1:4000")
	s.SetAttr("name", "www.lab.test.")
	s.Datagram(FromClient, []byte("QUERY www.lab.test. IN A id=1"), []byte{0, 1}, "")
	s.AddBytes(2, 0)
	if len(r.List()) != 0 || len(events) != 0 {
		t.Fatalf("a quick session is listed before it closes: %+v, events %+v", r.List(), events)
	}
	if _, ok := r.Get(s.ID()); ok {
		t.Fatal("Get finds a quick session before it closes")
	}
	s.Datagram(FromServer, []byte("NOERROR"), []byte{0, 1, 2}, "")
	s.AddBytes(0, 3)
	s.SetAttr("rcode", "NOERROR")
	s.Close("noerror")
	s.Close("twice") // harmless

	list := r.List()
	if len(list) != 1 || list[0].Open || list[0].Result != "noerror" || list[0].Attrs["rcode"] != "NOERROR" ||
		list[0].BytesIn != 2 || list[0].BytesOut != 3 || !list[0].Rendered {
		t.Fatalf("after close: %+v", list)
	}
	got, ok := r.Get(s.ID())
	if !ok || len(got.Transcript()) != 2 {
		t.Fatalf("Get after close: %v, transcript %+v", ok, got.Transcript())
	}
	if r.Today()["dns"] != 1 {
		t.Errorf("today: %v", r.Today())
	}
	if len(events) != 2 || events[0].Kind != "open" || events[1].Kind != "close" {
		t.Fatalf("events: %+v", events)
	}
	if o := events[0].Info; !o.Open || o.Attrs != nil || o.BytesIn != 0 || o.Result != "" || !o.End.IsZero() || o.ID != s.ID() {
		t.Errorf("open event: %+v", o)
	}
	if c := events[1].Info; c.Open || c.Attrs["name"] != "www.lab.test." || c.BytesOut != 3 || c.End.IsZero() {
		t.Errorf("close event: %+v", c)
	}

	// Live: registered at once, closed like any session.
	events = nil
	w := r.OpenQuick("dns", "udp", "127.0.0.1:53", "127.0.0.1:4001")
	w.Live()
	w.Live() // harmless
	if live := r.Live(); len(live) != 1 || live[0].ID != w.ID() || len(events) != 1 || events[0].Kind != "open" {
		t.Fatalf("after Live: live %+v, events %+v", live, events)
	}
	w.Close("noerror")
	if len(r.Live()) != 0 || len(r.List()) != 2 || len(events) != 2 || events[1].Kind != "close" || r.Today()["dns"] != 2 {
		t.Fatalf("after closing a live quick session: %+v, events %+v, today %v", r.List(), events, r.Today())
	}
}

// TestRecordExchange: one call records a finished exchange as OpenQuick,
// SetAttr, Datagram and Close would; attributes shared between sessions
// are copied before a session changes its own.
func TestRecordExchange(t *testing.T) {
	r := New(Options{})
	var events []Event
	cancel := r.Observe(func(e Event) { events = append(events, e) })
	defer cancel()
	shared := map[string]string{"name": "www.lab.test.", "rcode": "NOERROR"}
	x := Exchange{Proto: "dns", Transport: "udp", Local: "127.0.0.1:53", Remote: "127.0.0.1:4000",
		Attrs: shared, Query: []byte("QUERY www.lab.test. IN A id=7"), QueryWire: []byte{0, 7},
		Answer: []byte("NOERROR flags: aa"), AnswerWire: []byte{0, 7, 0x84}, BytesIn: 2, BytesOut: 3, Result: "noerror"}
	a := r.RecordExchange(&x)
	b := r.RecordExchange(&x)
	if a.ID() == b.ID() {
		t.Fatal("two exchanges, one ID")
	}
	in := a.Info()
	if in.Open || in.End.IsZero() || in.Result != "noerror" || in.BytesIn != 2 || in.BytesOut != 3 || !in.Rendered || in.Attrs["rcode"] != "NOERROR" {
		t.Errorf("info: %+v", in)
	}
	tr := a.Transcript()
	if len(tr) != 2 || tr[0].Dir != FromClient || string(tr[0].Data) != "QUERY www.lab.test. IN A id=7" || tr[0].Len != 2 ||
		tr[1].Dir != FromServer || len(tr[1].Wire) != 3 {
		t.Errorf("transcript: %+v", tr)
	}
	if len(r.List()) != 2 || r.Today()["dns"] != 2 || r.TranscriptBytes() == 0 {
		t.Errorf("registry: %+v, today %v", r.List(), r.Today())
	}
	if len(events) != 4 || events[0].Kind != "open" || events[1].Kind != "close" || events[1].Info.Attrs["name"] != "www.lab.test." {
		t.Errorf("events: %+v", events)
	}
	a.SetAttr("rcode", "changed")
	a.Notef("write failed")
	if shared["rcode"] != "NOERROR" || b.Info().Attrs["rcode"] != "NOERROR" || a.Info().Attrs["rcode"] != "changed" || a.Info().Attrs["name"] != "www.lab.test." {
		t.Errorf("a change to one session's attributes reached the shared map: %v, %v", shared, b.Info().Attrs)
	}
	if len(a.Transcript()) != 3 {
		t.Errorf("note after RecordExchange: %+v", a.Transcript())
	}
}

// TestHistoryRing: each protocol keeps its last History finished sessions
// (a ring): older ones leave the list, Get and the transcript bytes, and a
// flood of one protocol does not push another's out; an exchange larger
// than the transcript bound is cut as Datagram would cut it.
func TestHistoryRing(t *testing.T) {
	r := New(Options{History: 3, TranscriptBytes: 200})
	ssh := r.Open("ssh", "tcp", "l", "r")
	ssh.Close("ok")
	var ids []uint64
	for i := range 10 {
		x := Exchange{Proto: "dns", Transport: "udp", Local: "l", Remote: "r",
			Query: []byte("QUERY"), QueryWire: []byte{0, byte(i)}, Answer: []byte("NOERROR"), AnswerWire: []byte{0, byte(i), 0x84}}
		ids = append(ids, r.RecordExchange(&x).ID())
	}
	list := r.List()
	if len(list) != 4 || list[0].ID != ssh.ID() || list[1].ID != ids[7] || list[2].ID != ids[8] || list[3].ID != ids[9] {
		t.Fatalf("history: %+v", list)
	}
	if _, ok := r.Get(ids[6]); ok {
		t.Error("Get finds a session pushed out of the history")
	}
	if s, ok := r.Get(ids[9]); !ok || len(s.Transcript()) != 2 {
		t.Errorf("Get of the newest: %v", ok)
	}
	per := int64(len("QUERY") + 2 + len("NOERROR") + 3 + 2*entryCost)
	if got := r.TranscriptBytes(); got != 3*per {
		t.Errorf("transcript bytes %d, want %d", got, 3*per)
	}
	if r.Today()["dns"] != 10 || r.Today()["ssh"] != 1 {
		t.Errorf("today: %v", r.Today())
	}
	big := Exchange{Proto: "dns", Transport: "udp", Query: []byte("QUERY"), QueryWire: []byte{0, 1},
		Answer: []byte("NOERROR"), AnswerWire: make([]byte, 300)}
	s := r.RecordExchange(&big)
	if tr := s.Transcript(); len(tr) != 1 || !s.Info().Truncated {
		t.Errorf("an answer over the bound: %d entries, truncated %v", len(tr), s.Info().Truncated)
	}
}

// TestGetAfterSlotTaken: a finished session whose slot in the ID index a
// later one took (recentSlots sessions later) is still found, as is the
// later one; an ID never kept is not.
func TestGetAfterSlotTaken(t *testing.T) {
	r := New(Options{History: recentSlots + 100})
	ssh := r.Open("ssh", "tcp", "l", "r")
	ssh.Close("ok")
	x := Exchange{Proto: "dns", Transport: "udp", Query: []byte("Q"), Answer: []byte("A")}
	var last *Session
	for range recentSlots + 10 {
		last = r.RecordExchange(&x)
	}
	if r.recent[ssh.ID()%recentSlots] == ssh {
		t.Fatal("the test does not take the slot")
	}
	if s, ok := r.Get(ssh.ID()); !ok || s != ssh {
		t.Error("Get misses a session whose slot was taken")
	}
	if s, ok := r.Get(last.ID()); !ok || s != last {
		t.Error("Get misses the newest session")
	}
	if _, ok := r.Get(last.ID() + 1000); ok {
		t.Error("Get finds an ID never used")
	}
	if n := len(r.List()); n != recentSlots+11 {
		t.Errorf("List: %d sessions", n)
	}
}

// addrString writes a TCP address as net.TCPAddr.String does.
func TestAddrString(t *testing.T) {
	for _, a := range []*net.TCPAddr{
		{IP: net.IPv4(127, 0, 0, 1), Port: 4242},
		{IP: net.IP{10, 1, 2, 3}, Port: 0},
		{IP: net.IPv6loopback, Port: 65535},
		{IP: net.ParseIP("fe80::1"), Port: 22, Zone: "eth0"},
		{IP: net.ParseIP("2001:db8::"), Port: 80},
		{IP: net.ParseIP("2001:db8:0:0:1:0:0:1"), Port: 80},
		{IP: net.ParseIP("::1.2.3.4"), Port: 80},
		{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 993},
		{IP: net.IPv4(192, 0, 2, 1), Port: 80, Zone: "eth0"},
		{IP: nil, Port: 80},
		{IP: net.IP{1, 2, 3}, Port: 80},
	} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
	if got := addrString(&net.UnixAddr{Name: "/x", Net: "unix"}); got != "/x" {
		t.Errorf("unix address: %q", got)
	}
}

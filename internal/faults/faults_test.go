package faults

import (
	"strings"
	"testing"
	"time"
)

func TestAddValidates(t *testing.T) {
	s := New(time.Hour)
	for _, tc := range []struct {
		f    Fault
		d    time.Duration
		want string
	}{
		{Fault{Service: "gopher", Kind: "loss"}, 0, "no faults for service"},
		{Fault{Service: "tftp", Kind: "explode"}, 0, "its kinds: duplicate, loss, delay"},
		{Fault{Service: "dns", Kind: "drop", Params: map[string]string{"percent": "200"}}, 0, "from 1 to 100"},
		{Fault{Service: "dns", Kind: "drop", Params: map[string]string{"pct": "20"}}, 0, `unknown parameter "pct"; it takes percent`},
		{Fault{Service: "http", Kind: "cut", Params: map[string]string{"x": "1"}}, 0, "takes no parameters"},
		{Fault{Service: "smtp", Kind: "tempfail", Params: map[string]string{"stage": "helo"}}, 0, "want one of connect, rcpt, data"},
		{Fault{Service: "dns", Kind: "truncate", Addr: "not-an-ip"}, 0, "not an IP address"},
		{Fault{Service: "dns", Kind: "truncate", Addr: "127.0.0.1", User: "alice"}, 0, "not both"},
		{Fault{Service: "dns", Kind: "truncate"}, 2 * time.Hour, "at most 1h0m0s"},
	} {
		if _, err := s.Add(tc.f, tc.d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%+v): %v, want %q", tc.f, err, tc.want)
		}
	}
	f, err := s.Add(Fault{Service: "smtp", Kind: "tempfail", Params: map[string]string{"code": "452"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Params["stage"] != "rcpt" || f.Params["code"] != "452" || f.Expires.Sub(f.Set) != DefaultDuration {
		t.Errorf("defaults not applied: %+v", f)
	}
	if f.String() != "smtp tempfail code=452 stage=rcpt" {
		t.Errorf("String: %q", f.String())
	}
}

func TestMatchScopesAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	s := New(time.Hour)
	s.now = func() time.Time { return now }
	if _, ok := s.Match("dns", "truncate", "", "127.0.0.1:5353"); ok {
		t.Fatal("match on an empty set")
	}
	all, _ := s.Add(Fault{Service: "http", Kind: "latency"}, 10*time.Minute)
	bob, _ := s.Add(Fault{Service: "http", Kind: "latency", User: "bob", Params: map[string]string{"ms": "50"}}, 20*time.Minute)
	addr, _ := s.Add(Fault{Service: "dns", Kind: "drop", Addr: "::1"}, 5*time.Minute)
	tcp, _ := s.Add(Fault{Service: TCP, Kind: "writedelay"}, 5*time.Minute)

	if f, _ := s.Match("http", "latency", "alice", "127.0.0.1:1"); f.ID != all.ID {
		t.Errorf("alice got %d, want the class-wide %d", f.ID, all.ID)
	}
	if f, _ := s.Match("http", "latency", "bob", "127.0.0.1:1"); f.ID != bob.ID {
		t.Errorf("bob got %d, want his own %d", f.ID, bob.ID)
	}
	if _, ok := s.Match("dns", "drop", "", "127.0.0.1:53"); ok {
		t.Error("an address fault matched another address")
	}
	if f, ok := s.Match("dns", "drop", "", "[::1]:5353"); !ok || f.ID != addr.ID {
		t.Error("an address fault did not match its address")
	}
	if f, ok := s.Match("smtp", "writedelay", "", "127.0.0.1:1"); !ok || f.ID != tcp.ID {
		t.Error("a tcp fault does not apply to SMTP")
	}
	if _, ok := s.Match("tftp", "writedelay", "", "127.0.0.1:1"); ok {
		t.Error("a tcp fault applied to TFTP (UDP)")
	}
	if act := s.Active(); !act["http"] || !act["dns"] || act["smtp"] {
		t.Errorf("Active: %v", act)
	}

	now = now.Add(11 * time.Minute)
	if f, _ := s.Match("http", "latency", "alice", "127.0.0.1:1"); f.ID == all.ID {
		t.Error("an expired fault still acts")
	}
	if len(s.List()) != 1 {
		t.Errorf("after expiry: %v", s.List())
	}
	if n := s.Clear(0); n != 1 || len(s.List()) != 0 {
		t.Errorf("clear all: %d, %v", n, s.List())
	}
}

func TestNilSetHasNoFaults(t *testing.T) {
	var s *Set
	if _, ok := s.Match("dns", "drop", "", "127.0.0.1:1"); ok || s.List() != nil {
		t.Error("a nil set has faults")
	}
}

// WritePaced slices a write into what 100 ms of the rate allow.
func TestWritePacedSlices(t *testing.T) {
	var sizes []int
	n, err := WritePaced(func(b []byte) (int, error) {
		sizes = append(sizes, len(b))
		return len(b), nil
	}, make([]byte, 25), 1) // 1 kbit/s: 125 bytes/s, 12 per 100 ms
	if err != nil || n != 25 || len(sizes) != 3 || sizes[0] != 12 || sizes[1] != 12 || sizes[2] != 1 {
		t.Errorf("WritePaced: n=%d err=%v slices %v, want 12 12 1", n, err, sizes)
	}
}

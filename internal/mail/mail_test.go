package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"labd/internal/store"
)

type fakeStore struct {
	users     map[string]bool
	delivered []string
	raw       []byte
}

func (f *fakeStore) User(_ context.Context, name string) (store.User, error) {
	if f.users[name] {
		return store.User{Name: name}, nil
	}
	return store.User{}, store.ErrNotFound
}

func (f *fakeStore) Deliver(_ context.Context, users []string, raw []byte, _ time.Time) error {
	f.delivered, f.raw = users, raw
	return nil
}

func TestResolve(t *testing.T) {
	d := &Deliverer{Store: &fakeStore{users: map[string]bool{"alice": true}}, Domains: []string{"lab.test", "other.test"}, Hostname: "labd.lab.test"}
	tests := []struct {
		addr string
		user string
		err  error
	}{
		{"<alice@lab.test>", "alice", nil},
		{"Alice@LAB.TEST", "alice", nil},
		{"alice+lists@lab.test", "alice", nil},
		{"alice@other.test", "alice", nil},
		{"alice@labd.lab.test", "alice", nil},
		{"alice", "alice", nil},
		{"carol@lab.test", "", ErrNoUser},
		{"alice@example.com", "", ErrNotLocal},
		{"<>", "", ErrBadAddress},
		{"a b@lab.test", "", ErrBadAddress},
	}
	for _, tc := range tests {
		u, err := d.Resolve(context.Background(), tc.addr)
		if u != tc.user || !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.addr, u, err, tc.user, tc.err)
		}
	}
}

func TestNormalizeCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\n":        "a\r\nb\r\n",
		"a\r\nb\r\n":    "a\r\nb\r\n",
		"a\rb":          "a\r\nb",
		"mixed\r\nx\ny": "mixed\r\nx\r\ny",
		"none":          "none",
	} {
		if got := string(NormalizeCRLF([]byte(in))); got != want {
			t.Errorf("NormalizeCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeliverAddsTraceHeaders(t *testing.T) {
	fs := &fakeStore{users: map[string]bool{"bob": true}}
	d := &Deliverer{Store: fs, Domains: []string{"lab.test"}, Hostname: "labd.lab.test"}
	err := d.Deliver(context.Background(), "<forged@bank.example>", []string{"bob"}, []byte("From: boss@bank.example\nSubject: hi\n\nbody\n"),
		Trace{Helo: "pc12", ClientAddr: "127.0.0.1", With: "ESMTP", ID: "ABC"})
	if err != nil {
		t.Fatal(err)
	}
	raw := string(fs.raw)
	for _, want := range []string{
		"Return-Path: <forged@bank.example>\r\n",
		"Received: from pc12 ([127.0.0.1])\r\n\tby labd.lab.test (labd) with ESMTP id ABC",
		"not authenticated",
		"for <bob@lab.test>",
		"\r\nFrom: boss@bank.example\r\nSubject: hi\r\n\r\nbody\r\n",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("stored message lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") {
		t.Error("bare LF left in stored message")
	}
}

func TestTraceHeadersHaveNoControlCharacters(t *testing.T) {
	d := &Deliverer{Domains: []string{"lab.test"}, Hostname: "labd.lab.test"}
	h := string(d.TraceHeaders("<a@b>", []string{"bob"}, Trace{Helo: "x\rX-Injected: yes", ClientAddr: "127.0.0.1"}, time.Now()))
	if strings.Contains(strings.ReplaceAll(h, "\r\n", ""), "\r") || !strings.Contains(h, "from x?X-Injected: yes") {
		t.Errorf("HELO text not neutralised: %q", h)
	}
}

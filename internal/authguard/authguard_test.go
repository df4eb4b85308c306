package authguard_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"labd/internal/authguard"
	"labd/internal/labtest"
	"labd/internal/store"
)

// fakeStore knows one password per user and counts checks.
type fakeStore struct{ n atomic.Int64 }

func (f *fakeStore) Authenticate(ctx context.Context, protocol, name, password string) (store.User, error) {
	f.n.Add(1)
	if password == name+"-secret" {
		return store.User{Name: name}, nil
	}
	return store.User{}, store.ErrAuthFailed
}

func TestAddress(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:4242":          "192.0.2.7",
		"[::ffff:192.0.2.7]:1":    "192.0.2.7",
		"[2001:db8::1]:22":        "2001:db8::/64",
		"[2001:db8::ffff:1]:22":   "2001:db8::/64",
		"[2001:db8:0:1::1]:22":    "2001:db8:0:1::/64",
		"192.0.2.9":               "192.0.2.9",
		"not an address at all:x": "not an address at all",
	} {
		if got := authguard.Address(in); got != want {
			t.Errorf("Address(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentBurst: 150 guesses at once from one address are not 150
// checks; the owner from another address gets in within seconds, during
// the attack; every attempt returns within MaxWait plus a margin.
func TestConcurrentBurst(t *testing.T) {
	st := &fakeStore{}
	g := authguard.New(st, authguard.Options{MaxWait: 4 * time.Second}, labtest.Logger(t))
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	var throttled atomic.Int64
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.Authenticate(ctx, "test", "192.0.2.66:1000", "alice", fmt.Sprint("guess", i))
			if !errors.Is(err, store.ErrAuthFailed) {
				t.Errorf("guess %d: %v, want a failure", i, err)
			}
			if errors.Is(err, authguard.ErrThrottled) {
				throttled.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	if _, err := g.Authenticate(ctx, "test", "198.51.100.1:2000", "alice", "alice-secret"); err != nil {
		t.Fatalf("the owner from another address: %v", err)
	}
	ownerWait := time.Since(t0)
	wg.Wait()
	elapsed := time.Since(start)
	checks := g.Checks("alice")
	t.Logf("150 concurrent guesses: %d checked, %d refused unchecked, in %v; the owner waited %v", checks-1, throttled.Load(), elapsed.Round(time.Millisecond), ownerWait.Round(time.Millisecond))
	// Free tries (3) plus those spaced 1 s, 2 s inside 4 s, plus the owner.
	if checks > 7 {
		t.Errorf("%d passwords checked, want at most 7", checks)
	}
	if ownerWait > 5*time.Second {
		t.Errorf("the owner waited %v, want seconds at most", ownerWait)
	}
	if elapsed > 12*time.Second {
		t.Errorf("the burst took %v: refused attempts must answer at once", elapsed)
	}
}

// TestManyAddresses: an attacker with many addresses (one guess in flight
// from each, as fast as answers come) is held near one guess per second per
// lane on the account.
func TestManyAddresses(t *testing.T) {
	st := &fakeStore{}
	g := authguard.New(st, authguard.Options{MaxWait: 2 * time.Second}, labtest.Logger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for a := 0; a < 40; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := g.Authenticate(ctx, "test", fmt.Sprintf("10.0.%d.1:1", a), "bob", fmt.Sprint("guess", i))
				if errors.Is(err, authguard.ErrThrottled) {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	checks := g.Checks("bob")
	t.Logf("40 addresses for 4 s: %d passwords checked", checks)
	// Two lanes at 1/s for 4 s, plus the first of each lane and slack for
	// a loaded machine.
	if checks > 14 {
		t.Errorf("%d passwords checked in 4 s, want about 2 per second at most", checks)
	}
}

// TestSuccessClearsPair: a student who mistyped a few times and then got
// in is not slowed down at the next login.
func TestSuccessClearsPair(t *testing.T) {
	st := &fakeStore{}
	g := authguard.New(st, authguard.Options{}, labtest.Logger(t))
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		g.Authenticate(ctx, "test", "192.0.2.1:1", "carol", "typo")
	}
	t0 := time.Now()
	if _, err := g.Authenticate(ctx, "test", "192.0.2.1:1", "carol", "carol-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Authenticate(ctx, "test", "192.0.2.1:1", "carol", "carol-secret"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("two good logins after three typos took %v", d)
	}
}

// A password reset (here or on another host) clears the account's
// failures: the student is let in at once, not after the gap their typos
// earned.
func TestResetForgetsTheAccount(t *testing.T) {
	st := &fakeStore{}
	g := authguard.New(st, authguard.Options{FreeTries: 1, MaxWait: 100 * time.Millisecond}, labtest.Logger(t))
	ctx := context.Background()
	if _, err := g.Authenticate(ctx, "test", "192.0.2.1:1", "carol", "typo"); !errors.Is(err, store.ErrAuthFailed) || errors.Is(err, authguard.ErrThrottled) {
		t.Fatalf("first wrong password: %v", err)
	}
	// The next attempt would wait a second: refused unchecked.
	if _, err := g.Authenticate(ctx, "test", "192.0.2.1:1", "carol", "carol-secret"); !errors.Is(err, authguard.ErrThrottled) {
		t.Fatalf("right after a failure beyond the free tries: %v, want ErrThrottled", err)
	}
	g.Reset("Carol")
	if _, err := g.Authenticate(ctx, "test", "192.0.2.1:1", "carol", "carol-secret"); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
}

// downStore answers like a store whose database went away.
type downStore struct{}

func (downStore) Authenticate(ctx context.Context, protocol, name, password string) (store.User, error) {
	return store.User{}, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}

// Logins the database could not check are not failures: however many, they
// start no throttling, and the student's free tries are intact once the
// database is back.
func TestUnavailableIsNotAFailure(t *testing.T) {
	var throttles atomic.Int64
	opts := authguard.Options{OnThrottle: func(string, string, string, time.Duration, bool) { throttles.Add(1) }}
	ctx := context.Background()
	down := authguard.New(downStore{}, opts, labtest.Logger(t))
	for i := 0; i < 20; i++ {
		_, err := down.Authenticate(ctx, "test", "192.0.2.7:1000", "alice", "alice-secret")
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrAuthFailed) {
			t.Fatalf("attempt %d: %v, want ErrUnavailable and not ErrAuthFailed", i, err)
		}
	}
	if n := throttles.Load(); n != 0 {
		t.Errorf("%d throttled bursts from logins the database could not check", n)
	}
	// The same guard over a store that answers again (Check takes the
	// check as a function): the first typos pass at once, as on a fresh
	// guard (from the second failure on, the account's attempts are
	// spaced); had the outage counted, the pair would wait 16 s.
	st := &fakeStore{}
	for i := 0; i < 2; i++ {
		t0 := time.Now()
		err := down.Check(ctx, "test", "192.0.2.7:1000", "alice", func(ctx context.Context) error {
			_, err := st.Authenticate(ctx, "test", "alice", "typo")
			return err
		})
		if !errors.Is(err, store.ErrAuthFailed) || errors.Is(err, authguard.ErrThrottled) {
			t.Fatalf("typo %d after the outage: %v", i+1, err)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("typo %d after the outage waited %v: the outage counted", i+1, d)
		}
	}
	if n := throttles.Load(); n != 0 {
		t.Errorf("%d throttled bursts within the free tries", n)
	}
}

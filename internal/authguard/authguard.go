// Package authguard throttles password guessing for every login path of
// labd (SMTP, POP3, IMAP, FTP, Telnet, SSH, HTTP Basic, the dashboard) with
// one shared memory of failures, so that a student cannot multiply their
// guessing rate by opening connections or switching protocols.
//
// Every attempt reserves a start time before the password is checked, so
// concurrent attempts queue instead of racing past the counters. Three
// schedules apply:
//
//   - per account and source address: after a few free tries, each further
//     attempt waits an exponentially growing gap (1 s, 2 s, 4 s… up to
//     PairMaxGap); a success clears it;
//   - per account, across addresses: once the account has failures, at most
//     one attempt per AccountGap (about one guess per second), whatever the
//     number of addresses;
//   - per address, across accounts: once the address has many failures, a
//     small gap between its attempts (a spray across the class list).
//
// The account and address queues are a ceiling, not a lockout: a pair with
// few failures (the real owner typing from elsewhere, or a student behind
// the class NAT with their own account) queues in a separate owner's lane
// that one attacking address cannot fill.
// An attempt that would have to wait more than MaxWait is answered at once
// as a failure without looking at the password (ErrThrottled), so a flood
// holds no goroutines and learns nothing.
package authguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"labd/internal/store"
)

// ErrThrottled answers an attempt refused without checking its password.
// It wraps store.ErrAuthFailed, so a service that already answers a wrong
// password correctly needs nothing more.
var ErrThrottled = fmt.Errorf("%w: too many failed logins, slow down and try again in a few seconds", store.ErrAuthFailed)

// Options tune the guard; zero values take the defaults.
type Options struct {
	// FreeTries is how many failures of one account from one address are
	// not spaced at all (typos).
	FreeTries int
	// PairMaxGap caps the growing gap of one account from one address.
	PairMaxGap time.Duration
	// AccountGap spaces the attempts on an account that has failures, from
	// all addresses together.
	AccountGap time.Duration
	// AddressFreeFailures is how many failures one address may collect
	// (over all accounts) before AddressGap applies: a class behind one NAT
	// makes many typos.
	AddressFreeFailures int
	AddressGap          time.Duration
	// MaxWait is the longest an attempt is held before its check; beyond
	// it the attempt fails at once with ErrThrottled.
	MaxWait time.Duration
	// Forget clears the failures of an account, address or pair idle for
	// this long.
	Forget time.Duration
	// OnThrottle, if set, hears of each burst the guard starts slowing
	// down (once per burst, as the log line), outside the guard's lock:
	// the daemon notes it on the client's session for labd sessions and
	// the dashboard.
	OnThrottle func(protocol, remote, user string, wait time.Duration, refused bool)
}

func (o *Options) defaults() {
	if o.FreeTries <= 0 {
		o.FreeTries = 3
	}
	if o.PairMaxGap <= 0 {
		o.PairMaxGap = 16 * time.Second
	}
	if o.AccountGap <= 0 {
		o.AccountGap = time.Second
	}
	if o.AddressFreeFailures <= 0 {
		o.AddressFreeFailures = 40
	}
	if o.AddressGap <= 0 {
		o.AddressGap = 250 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 20 * time.Second
	}
	if o.Forget <= 0 {
		o.Forget = 15 * time.Minute
	}
}

// Checker verifies a password; *store.SQLite is one.
type Checker interface {
	Authenticate(ctx context.Context, protocol, name, password string) (store.User, error)
}

// Guard is shared by every service of a daemon.
type Guard struct {
	opts  Options
	store Checker
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	pairs   map[pairKey]*track
	account map[string]*track
	address map[string]*track
	checks  map[string]int // password checks per account, for tests and stats
	sweepAt int
	// observe hears of every attempt's outcome (metrics); see Observe.
	observe atomic.Pointer[func(protocol, result string)]
}

// Observe calls fn with every attempt's protocol and outcome: ok, failed,
// or throttled (refused without checking the password). fn must be quick.
func (g *Guard) Observe(fn func(protocol, result string)) { g.observe.Store(&fn) }

func (g *Guard) outcome(protocol, result string) {
	if fn := g.observe.Load(); fn != nil {
		(*fn)(protocol, result)
	}
}

type pairKey struct{ account, address string }

// track is the state of one key: when its next attempt may start, how many
// failures it collected (pending attempts count as failures until they
// end, so a burst is spaced as if all failed), and whether its current
// burst was logged.
type track struct {
	next      time.Time
	ownerNext time.Time
	failures  int
	pending   int
	last      time.Time
	logged    bool
}

// New returns a guard checking passwords with st.
func New(st Checker, opts Options, log *slog.Logger) *Guard {
	opts.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Guard{opts: opts, store: st, log: log, now: time.Now,
		pairs: map[pairKey]*track{}, account: map[string]*track{}, address: map[string]*track{}, checks: map[string]int{}}
}

// Address reduces a remote address (host:port or host) to the key its
// failures count under: the IP, or its /64 for IPv6, where one host owns
// the whole prefix.
func Address(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() != nil {
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// Authenticate checks name's password for protocol from remote under the
// guard. A wrong password, an unknown user and a throttled attempt all
// return an error wrapping store.ErrAuthFailed; other errors (the store is
// unavailable) are not counted.
func (g *Guard) Authenticate(ctx context.Context, protocol, remote, name, password string) (store.User, error) {
	var u store.User
	err := g.Check(ctx, protocol, remote, name, func(ctx context.Context) error {
		var err error
		u, err = g.store.Authenticate(ctx, protocol, name, password)
		return err
	})
	return u, err
}

// Check runs check (which verifies a credential and returns an error
// wrapping store.ErrAuthFailed when it is wrong) under the guard.
func (g *Guard) Check(ctx context.Context, protocol, remote, name string, check func(context.Context) error) error {
	account := store.NormalizeUser(name)
	addr := Address(remote)
	wait, p, a, i, burst, err := g.reserve(protocol, remote, account, addr)
	if burst && g.opts.OnThrottle != nil {
		g.opts.OnThrottle(protocol, remote, account, wait, err != nil)
	}
	if err != nil {
		g.outcome(protocol, "throttled")
		return err
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			g.finish(p, a, i, account, false, false)
			// The client left or the service's own deadline came first:
			// a failure for the client, nothing learnt about the password.
			return fmt.Errorf("login of %s abandoned while throttled (%v): %w", account, ctx.Err(), ErrThrottled)
		}
	}
	err = check(ctx)
	failed := errors.Is(err, store.ErrAuthFailed)
	g.finish(p, a, i, account, true, failed)
	switch {
	case err == nil:
		g.outcome(protocol, "ok")
	case failed:
		g.outcome(protocol, "failed")
	}
	return err
}

func (g *Guard) reserve(protocol, remote, account, addr string) (wait time.Duration, p, a, i *track, burst bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.maybeSweep(now)
	p = trackOf(g, g.pairs, pairKey{account, addr}, now)
	a = trackOf(g, g.account, account, now)
	i = trackOf(g, g.address, addr, now)
	o := g.opts

	start := maxT(now, p.next)
	// A pair with few failures takes the owner's lane of the account and
	// address queues: one attacker address feeds it at most FreeTries
	// attempts, so the owner typing from elsewhere is not stuck behind a
	// flood. Each lane is spaced on its own: together about two attempts a
	// second on an account under attack.
	owner := p.failures+p.pending < o.FreeTries
	aq, iq := &a.next, &i.next
	if owner {
		aq, iq = &a.ownerNext, &i.ownerNext
	}
	start = maxT(maxT(start, *aq), *iq)
	wait = start.Sub(now)
	if wait > o.MaxWait {
		burst = g.throttled(p, protocol, remote, account, wait, true)
		return wait, nil, nil, nil, burst, ErrThrottled
	}
	if wait > 0 {
		burst = g.throttled(p, protocol, remote, account, wait, false)
	} else {
		p.logged = false
	}
	// Reserve: the gaps are those of a failure, as this attempt may be one.
	p.next = start.Add(pairGap(p.failures+p.pending+1, o))
	if a.failures+a.pending > 0 {
		*aq = maxT(*aq, start).Add(o.AccountGap)
	}
	if i.failures+i.pending >= o.AddressFreeFailures {
		*iq = maxT(*iq, start).Add(o.AddressGap)
	}
	p.pending++
	a.pending++
	i.pending++
	p.last, a.last, i.last = now, now, now
	return wait, p, a, i, burst, nil
}

// pairGap is the spacing after n failures of one account from one address.
func pairGap(n int, o Options) time.Duration {
	if n < o.FreeTries {
		return 0
	}
	d := time.Second << min(n-o.FreeTries, 20)
	return min(d, o.PairMaxGap)
}

func (g *Guard) throttled(p *track, protocol, remote, account string, wait time.Duration, refused bool) bool {
	if p.logged {
		return false
	}
	p.logged = true
	g.log.Warn("auth throttled", "user", account, "remote", remote, "protocol", protocol,
		"wait", wait.Round(time.Millisecond).String(), "refused", refused, "failures", p.failures)
	return true
}

func (g *Guard) finish(p, a, i *track, account string, checked, failed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for _, t := range []*track{p, a, i} {
		t.pending--
		t.last = now
		if failed {
			t.failures++
		}
	}
	if checked {
		g.checks[account]++
	}
	if checked && !failed {
		// The owner got in from here: their pair starts afresh. The account
		// and address keep their counts, for an attacker elsewhere.
		p.failures = 0
		p.next = now
		p.logged = false
	}
}

// Reset forgets the failures of account (from every address): its
// password was changed or its user added or removed, possibly on another
// labd host sharing the database, so the guesses against the old password
// say nothing about the next attempt, and a student whose teacher reset
// their password is not kept waiting. Attempts in progress still count
// until they end. The addresses keep their counts (a spray across
// accounts is still one).
func (g *Guard) Reset(account string) {
	account = store.NormalizeUser(account)
	g.mu.Lock()
	defer g.mu.Unlock()
	// A track with attempts in flight keeps its reserved start times
	// (those attempts are queued on them) and loses its failures.
	reset := func(t *track) { t.failures, t.logged = 0, false }
	for k, t := range g.pairs {
		if k.account != account {
			continue
		}
		if t.pending == 0 {
			delete(g.pairs, k)
		} else {
			reset(t)
		}
	}
	if t := g.account[account]; t != nil {
		if t.pending == 0 {
			delete(g.account, account)
		} else {
			reset(t)
		}
	}
}

// Checks returns how many passwords of account were checked so far.
func (g *Guard) Checks(account string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checks[store.NormalizeUser(account)]
}

// trackOf returns the entry of k in m, created if needed, forgotten if idle.
func trackOf[K comparable](g *Guard, m map[K]*track, k K, now time.Time) *track {
	t := m[k]
	if t == nil {
		t = &track{}
		m[k] = t
	}
	g.decay(t, now)
	return t
}

func (g *Guard) decay(t *track, now time.Time) {
	if t.pending == 0 && !t.last.IsZero() && now.Sub(t.last) > g.opts.Forget {
		*t = track{}
	}
}

// maybeSweep drops forgotten entries now and then, so that a flood of
// made-up user names does not grow the maps without bound.
func (g *Guard) maybeSweep(now time.Time) {
	g.sweepAt++
	if g.sweepAt < 1024 {
		return
	}
	g.sweepAt = 0
	idle := func(t *track) bool { return t.pending == 0 && now.Sub(t.last) > g.opts.Forget }
	for k, t := range g.pairs {
		if idle(t) {
			delete(g.pairs, k)
		}
	}
	for k, t := range g.account {
		if idle(t) {
			delete(g.account, k)
			delete(g.checks, k)
		}
	}
	for k, t := range g.address {
		if idle(t) {
			delete(g.address, k)
		}
	}
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

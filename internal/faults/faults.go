// Package faults holds the faults a teacher switches on for a lesson: loss,
// delay, temporary failures and refusals, per service, for everyone, one
// user or one address, each ending by itself after a while. Services ask
// Match at the points where a fault can act and note what they did in the
// session's transcript.
//
// A nil *Set has no faults, and Match on a set without any active fault is
// one atomic load, so the services pay nothing when no lesson needs them.
package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Param describes one KEY=VALUE parameter of a kind.
type Param struct {
	Name    string
	Default string
	// Check validates a value; nil accepts any.
	Check func(string) error
}

// Kind is a fault a service knows how to inject.
type Kind struct {
	Service string
	Name    string
	Help    string
	Params  []Param
}

func intIn(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, v) {
			return fmt.Errorf("want one of %s", strings.Join(vals, ", "))
		}
		return nil
	}
}

func duration(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 24*time.Hour {
		return errors.New("want a duration such as 30s or 2m")
	}
	return nil
}

// TCP is the pseudo-service whose kinds act on any TCP connection; a fault
// set for "tcp" applies to every TCP service, one set for a service to
// that service only.
const TCP = "tcp"

var tcpServices = []string{"http", "https", "ftp", "ftp-data", "ssh", "telnet", "smtp", "submission", "smtps",
	"pop3", "pop3s", "imap", "imaps", "dns"}

// Kinds lists every fault labd can inject.
var Kinds = []Kind{
	// pin/tftp v3.1.0 sends from a socket of its own: loss is a kernel
	// filter on that socket (incoming datagrams), duplication a copy of the
	// block labd sends itself from that socket.
	{"tftp", "duplicate", "send a share of the DATA blocks of downloads twice (the Sorcerer's Apprentice lesson)", []Param{{"percent", "20", intIn(1, 100)}}},
	{"tftp", "loss", "drop a share of the ACKs (downloads) or DATA (uploads) reaching labd: retransmissions follow", []Param{{"percent", "20", intIn(1, 90)}}},
	{"tftp", "delay", "delay each DATA packet (beyond the client's timeout, it retransmits its ACK)", []Param{{"ms", "200", intIn(1, 10000)}}},
	{"dns", "servfail", "answer SERVFAIL (for one name, or every name)", []Param{{"name", "", nil}}},
	{"dns", "refused", "answer REFUSED (for one name, or every name)", []Param{{"name", "", nil}}},
	{"dns", "delay", "answer late, beyond a client's timeout if long enough", []Param{{"ms", "3000", intIn(1, 30000)}}},
	{"dns", "truncate", "set TC on every UDP answer: clients retry over TCP", nil},
	{"dns", "drop", "drop a share of UDP answers: clients time out and retry", []Param{{"percent", "50", intIn(1, 100)}}},
	{"smtp", "tempfail", "answer a temporary failure at connect, RCPT or after DATA", []Param{{"stage", "rcpt", oneOf("connect", "rcpt", "data")}, {"code", "451", oneOf("421", "451", "452")}}},
	{"smtp", "greylist", "451 to the first attempt of a sender/recipient/address triplet; a retry after the delay is accepted", []Param{{"delay", "30s", duration}}},
	{"http", "latency", "add latency before each response", []Param{{"ms", "500", intIn(1, 30000)}}},
	{"http", "status", "answer 500 or 503 (with Retry-After) for one path prefix, or every path", []Param{{"code", "503", oneOf("500", "502", "503", "504")}, {"path", "/", nil}, {"retry_after", "30", intIn(0, 86400)}}},
	{"http", "cut", "cut the response body in the middle (the connection closes)", nil},
	{"http", "slow", "send the response body slowly", []Param{{"kbps", "8", intIn(1, 1000000)}}},
	{"ftp", "block-passive", "refuse passive data connections, as behind a firewall (active mode works)", nil},
	{"ftp", "block-active", "refuse active data connections (passive mode works)", nil},
	{"ftp", "ratelimit", "limit the transfer rate so that a transfer lasts long enough to watch", []Param{{"kbps", "64", intIn(1, 1000000)}}},
	{"pop3", "inuse", "refuse the mailbox lock: -ERR [IN-USE]", nil},
	{"pop3", "unavailable", "answer -ERR [SYS/TEMP] to logins", nil},
	{"pop3", "bye", "close the session in the middle, after the next command", nil},
	{"imap", "inuse", "refuse SELECT of a mailbox in use: NO [INUSE]", nil},
	{"imap", "unavailable", "answer NO [UNAVAILABLE] to logins", nil},
	{"imap", "bye", "send BYE and close in the middle of a session, after the next command", nil},
	{TCP, "bandwidth", "cap each connection's bandwidth", []Param{{"kbps", "64", intIn(1, 1000000)}}},
	{TCP, "writedelay", "delay every write", []Param{{"ms", "100", intIn(1, 10000)}}},
	{TCP, "reset", "reset the connection after N bytes sent", []Param{{"bytes", "1000", intIn(1, 1<<30)}}},
}

// FindKind returns the kind of a service, or false.
func FindKind(service, kind string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Service == service && k.Name == kind {
			return k, true
		}
	}
	return Kind{}, false
}

// Fault is one fault switched on.
type Fault struct {
	ID      int               `json:"id"`
	Service string            `json:"service"`
	Kind    string            `json:"kind"`
	Params  map[string]string `json:"params,omitempty"`
	// User and Addr scope the fault; both empty: everyone.
	User    string    `json:"user,omitempty"`
	Addr    string    `json:"addr,omitempty"`
	Set     time.Time `json:"set"`
	Expires time.Time `json:"expires"`
}

// Scope says whom a fault affects, for people.
func (f Fault) Scope() string {
	switch {
	case f.User != "":
		return "user " + f.User
	case f.Addr != "":
		return "address " + f.Addr
	}
	return "everyone"
}

// String is the fault as `labd fault set` would write it.
func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", f.Service, f.Kind)
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, f.Params[k])
	}
	return b.String()
}

// Int returns an integer parameter.
func (f Fault) Int(name string) int {
	n, _ := strconv.Atoi(f.Params[name])
	return n
}

// Duration returns a duration parameter.
func (f Fault) Duration(name string) time.Duration {
	d, _ := time.ParseDuration(f.Params[name])
	return d
}

// Hit says whether a percentage fault acts this time.
func (f Fault) Hit(r *rand.Rand) bool {
	p := f.Int("percent")
	if r == nil {
		return rand.IntN(100) < p
	}
	return r.IntN(100) < p
}

// Set is the daemon's set of faults.
type Set struct {
	mu     sync.Mutex
	faults map[int]Fault
	next   int
	// active counts faults, for the fast path of Match.
	active atomic.Int32
	now    func() time.Time
	// Max bounds a fault's duration.
	Max time.Duration
	// OnChange, if set, is called after every change (persistence).
	OnChange func([]Fault)
}

// New returns an empty set whose faults last at most max.
func New(max time.Duration) *Set {
	if max <= 0 {
		max = 2 * time.Hour
	}
	return &Set{faults: map[int]Fault{}, now: time.Now, Max: max}
}

// DefaultDuration is how long a fault lasts when the teacher says nothing.
const DefaultDuration = 10 * time.Minute

// Add validates and switches on a fault for d (DefaultDuration if zero).
func (s *Set) Add(f Fault, d time.Duration) (Fault, error) {
	k, ok := FindKind(f.Service, f.Kind)
	if !ok {
		var kinds []string
		for _, k := range Kinds {
			if k.Service == f.Service {
				kinds = append(kinds, k.Name)
			}
		}
		if len(kinds) == 0 {
			return f, fmt.Errorf("no faults for service %q; services: tftp, dns, smtp, http, ftp, pop3, imap, tcp (any TCP service)", f.Service)
		}
		return f, fmt.Errorf("%s has no fault %q; its kinds: %s", f.Service, f.Kind, strings.Join(kinds, ", "))
	}
	params := map[string]string{}
	for _, p := range k.Params {
		if p.Default != "" {
			params[p.Name] = p.Default
		}
	}
	for name, v := range f.Params {
		i := slices.IndexFunc(k.Params, func(p Param) bool { return p.Name == name })
		if i < 0 {
			var names []string
			for _, p := range k.Params {
				names = append(names, p.Name)
			}
			if len(names) == 0 {
				return f, fmt.Errorf("%s %s takes no parameters", f.Service, f.Kind)
			}
			return f, fmt.Errorf("%s %s: unknown parameter %q; it takes %s", f.Service, f.Kind, name, strings.Join(names, ", "))
		}
		if c := k.Params[i].Check; c != nil {
			if err := c(v); err != nil {
				return f, fmt.Errorf("%s %s: %s=%s: %w", f.Service, f.Kind, name, v, err)
			}
		}
		params[name] = v
	}
	f.Params = params
	if f.User != "" && f.Addr != "" {
		return f, errors.New("a fault is for one user or one address, not both")
	}
	if f.Addr != "" {
		ip := net.ParseIP(f.Addr)
		if ip == nil {
			return f, fmt.Errorf("address %q is not an IP address", f.Addr)
		}
		f.Addr = ip.String()
	}
	if d == 0 {
		d = DefaultDuration
	}
	if d < 0 || d > s.Max {
		return f, fmt.Errorf("a fault lasts at most %s (faults.max_duration)", s.Max)
	}
	s.mu.Lock()
	s.next++
	f.ID = s.next
	f.Set = s.now()
	f.Expires = f.Set.Add(d)
	s.faults[f.ID] = f
	s.active.Store(int32(len(s.faults)))
	list := s.listLocked()
	s.mu.Unlock()
	s.changed(list)
	return f, nil
}

// Restore puts back faults kept across a restart (still unexpired ones).
func (s *Set) Restore(fs []Fault) {
	s.mu.Lock()
	now := s.now()
	for _, f := range fs {
		if f.Expires.After(now) {
			s.faults[f.ID] = f
			s.next = max(s.next, f.ID)
		}
	}
	s.active.Store(int32(len(s.faults)))
	s.mu.Unlock()
}

func (s *Set) changed(list []Fault) {
	if s.OnChange != nil {
		s.OnChange(list)
	}
}

// List returns the active faults, oldest first.
func (s *Set) List() []Fault {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	return s.listLocked()
}

func (s *Set) listLocked() []Fault {
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Set) expireLocked() {
	now := s.now()
	for id, f := range s.faults {
		if !f.Expires.After(now) {
			delete(s.faults, id)
		}
	}
	s.active.Store(int32(len(s.faults)))
}

// Clear switches off one fault (id > 0) or all (id 0); it returns how
// many it switched off.
func (s *Set) Clear(id int) int {
	s.mu.Lock()
	n := 0
	if id == 0 {
		n = len(s.faults)
		clear(s.faults)
	} else if _, ok := s.faults[id]; ok {
		delete(s.faults, id)
		n = 1
	}
	s.active.Store(int32(len(s.faults)))
	list := s.listLocked()
	s.mu.Unlock()
	s.changed(list)
	return n
}

// Any says, in one atomic load, whether any fault may be active.
func (s *Set) Any() bool { return s != nil && s.active.Load() > 0 }

// Match returns the active fault of service and kind that applies to user
// (empty before login) connecting from remote (host:port or IP). A fault
// of the "tcp" pseudo-service matches any service's TCP kinds.
func (s *Set) Match(service, kind, user, remote string) (Fault, bool) {
	if s == nil || s.active.Load() == 0 {
		return Fault{}, false
	}
	ip := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		ip = h
	}
	if p := net.ParseIP(ip); p != nil {
		ip = p.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var best Fault
	found := false
	for id, f := range s.faults {
		if !f.Expires.After(now) {
			delete(s.faults, id)
			s.active.Add(-1)
			continue
		}
		if f.Kind != kind || f.Service != service && !(f.Service == TCP && slices.Contains(tcpServices, service)) {
			continue
		}
		if f.User != "" && f.User != user || f.Addr != "" && f.Addr != ip {
			continue
		}
		// The most specific and then the newest fault wins.
		if !found || specificity(f) > specificity(best) || specificity(f) == specificity(best) && f.ID > best.ID {
			best, found = f, true
		}
	}
	return best, found
}

func specificity(f Fault) int {
	if f.User != "" || f.Addr != "" {
		return 1
	}
	return 0
}

// Active says which services have a fault on now, for the class board
// (which says that one is on, not which).
func (s *Set) Active() map[string]bool {
	out := map[string]bool{}
	for _, f := range s.List() {
		out[f.Service] = true
	}
	return out
}

// WritePaced writes p through write at about kbps kilobits per second: a
// slice of what 100 ms allow, then a pause, as a slow link would. The
// HTTP slow fault and the TCP bandwidth and FTP ratelimit faults use it.
func WritePaced(write func([]byte) (int, error), p []byte, kbps int) (int, error) {
	per := max(1, kbps*1000/8/10) // bytes per 100 ms
	n := 0
	for len(p) > 0 {
		k := min(len(p), per)
		m, err := write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
		if len(p) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return n, nil
}

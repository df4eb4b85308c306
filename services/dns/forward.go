package dns

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxCacheTTL caps how long a forwarded answer is kept.
const maxCacheTTL = 86400

type cacheKey struct {
	name          string
	qtype, qclass uint16
}

type cacheEntry struct {
	msg     *dns.Msg // without OPT; TTLs as received
	stored  time.Time
	expires time.Time
}

// cache holds forwarded answers, positive and negative, for their TTL.
// It is bounded: when full, expired entries go first, then any.
type cache struct {
	mu  sync.Mutex
	m   map[cacheKey]*cacheEntry
	max int
}

func newCache(max int) *cache { return &cache{m: map[cacheKey]*cacheEntry{}, max: max} }

func (c *cache) get(k cacheKey, now time.Time) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e != nil && !now.Before(e.expires) {
		delete(c.m, k)
		return nil
	}
	return e
}

func (c *cache) put(k cacheKey, e *cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = e
}

func (c *cache) flush() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.m)
	clear(c.m)
	return n
}

// recurse answers a recursive query outside labd's zones from the cache
// or the forwarders, and says which ("cache", "forwarder", or the error).
func (s *Service) recurse(m *dns.Msg, q dns.Question) string {
	key := cacheKey{strings.ToLower(q.Name), q.Qtype, q.Qclass}
	now := s.now()
	if e := s.cache.get(key, now); e != nil {
		fillFromCache(m, e, now)
		return "cache"
	}
	up, err := s.exchange(q)
	if err != nil {
		s.log.Warn("forwarders failed", "name", q.Name, "type", typeString(q.Qtype), "err", err)
		m.Rcode = dns.RcodeServerFailure
		return "forwarder error"
	}
	up.Extra = slicesDeleteOPT(up.Extra)
	e := &cacheEntry{msg: up, stored: now}
	if ttl, ok := cacheTTL(up); ok && ttl > 0 {
		e.expires = now.Add(time.Duration(ttl) * time.Second)
		s.cache.put(key, e, now)
	}
	fillFromCache(m, e, now)
	return "forwarder"
}

// exchange asks each forwarder in turn, over UDP and then TCP if the
// answer was truncated.
func (s *Service) exchange(q dns.Question) (*dns.Msg, error) {
	req := new(dns.Msg)
	req.SetQuestion(q.Name, q.Qtype)
	req.Question[0].Qclass = q.Qclass
	req.RecursionDesired = true
	req.SetEdns0(maxUDP, false)
	var errs []error
	for _, fwd := range s.cfg.DNS.Forwarders {
		c := &dns.Client{Net: "udp", Timeout: s.upstreamTimeout, UDPSize: maxUDP}
		r, _, err := c.Exchange(req, fwd)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.Exchange(req, fwd)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fwd, err))
			continue
		}
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			errs = append(errs, fmt.Errorf("%s: %s", fwd, dns.RcodeToString[r.Rcode]))
			continue
		}
		return r, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("no forwarder configured")
	}
	return nil, errors.Join(errs...)
}

// cacheTTL is how long an answer may be cached: the smallest TTL of its
// answer records; for a negative answer (NXDOMAIN or NODATA) the SOA's
// TTL capped by its minimum (RFC 2308). Other answers are not cached.
func cacheTTL(r *dns.Msg) (uint32, bool) {
	switch {
	case r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0:
		ttl := uint32(maxCacheTTL)
		for _, rr := range r.Answer {
			ttl = min(ttl, rr.Header().Ttl)
		}
		return ttl, true
	case r.Rcode == dns.RcodeSuccess || r.Rcode == dns.RcodeNameError:
		for _, rr := range r.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl, maxCacheTTL), true
			}
		}
	}
	return 0, false
}

// fillFromCache copies a cached answer into m with every TTL lowered by
// the time it spent in the cache, so that dig shows it counting down.
func fillFromCache(m *dns.Msg, e *cacheEntry, now time.Time) {
	age := uint32(now.Sub(e.stored) / time.Second)
	m.Rcode = e.msg.Rcode
	m.Authoritative = false
	m.Answer = agedCopy(e.msg.Answer, age)
	m.Ns = agedCopy(e.msg.Ns, age)
	m.Extra = agedCopy(e.msg.Extra, age)
}

func agedCopy(rrs []dns.RR, age uint32) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		h := c.Header()
		if h.Ttl > age {
			h.Ttl -= age
		} else {
			h.Ttl = 0
		}
		out[i] = c
	}
	return out
}

func slicesDeleteOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"labd/config"
)

// secondary is one zone labd copies from a primary (the primary/secondary
// exercise: two lab hosts, one transfers the other's zone).
type secondary struct {
	origin  string
	primary string
	// kick asks the refresh loop for an immediate check (NOTIFY, reload).
	kick chan struct{}
}

func newSecondaries(list []config.Secondary) map[string]*secondary {
	out := map[string]*secondary{}
	for _, c := range list {
		origin := strings.ToLower(dns.Fqdn(c.Origin))
		out[origin] = &secondary{origin: origin, primary: c.Primary, kick: make(chan struct{}, 1)}
	}
	return out
}

func (sec *secondary) trigger() {
	select {
	case sec.kick <- struct{}{}:
	default:
	}
}

// secondaryLoop keeps one zone up to date until ctx ends: it asks the
// primary for the SOA at start, every refresh interval (retry after a
// failure) and when kicked, and transfers the zone when the serial is
// newer (RFC 1982 arithmetic) than the copy.
func (s *Service) secondaryLoop(ctx context.Context, sec *secondary) {
	defer s.bg.Done()
	for {
		wait := 30 * time.Second
		cur := s.zones.Load().zones[sec.origin]
		if err := s.refreshSecondary(sec, cur); err != nil {
			s.log.Warn("secondary zone not refreshed; retrying later", "zone", sec.origin, "primary", sec.primary, "err", err)
			if cur != nil {
				wait = time.Duration(max(cur.soa.Retry, 5)) * time.Second
			} else {
				wait = 10 * time.Second
			}
		} else if z := s.zones.Load().zones[sec.origin]; z != nil {
			wait = time.Duration(max(z.soa.Refresh, 5)) * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-sec.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

func (s *Service) refreshSecondary(sec *secondary, cur *zone) error {
	if cur != nil {
		m := new(dns.Msg)
		m.SetQuestion(sec.origin, dns.TypeSOA)
		m.RecursionDesired = false
		c := &dns.Client{Timeout: 5 * time.Second}
		r, _, err := c.Exchange(m, sec.primary)
		if err != nil {
			return fmt.Errorf("SOA query: %w", err)
		}
		var serial uint32
		found := false
		for _, rr := range r.Answer {
			if soa, ok := rr.(*dns.SOA); ok {
				serial, found = soa.Serial, true
			}
		}
		if !found {
			return fmt.Errorf("SOA query: no SOA in the answer (%s)", dns.RcodeToString[r.Rcode])
		}
		if int32(serial-cur.serial()) <= 0 {
			return nil // up to date
		}
	}
	m := new(dns.Msg)
	m.SetAxfr(sec.origin)
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	ch, err := tr.In(m, sec.primary)
	if err != nil {
		return fmt.Errorf("AXFR: %w", err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			return fmt.Errorf("AXFR: %w", env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	if len(rrs) < 2 {
		return fmt.Errorf("AXFR: %d records", len(rrs))
	}
	z, err := newZone(sec.origin, rrs[:len(rrs)-1]) // the last record repeats the SOA
	if err != nil {
		return fmt.Errorf("AXFR: %w", err)
	}
	z.primary = sec.primary
	s.reloadMu.Lock()
	prev := s.zones.Load()
	next := &zoneSet{zones: make(map[string]*zone, len(prev.zones)+1)}
	for k, v := range prev.zones {
		next.zones[k] = v
	}
	next.zones[sec.origin] = z
	s.zones.Store(next)
	s.reloadMu.Unlock()
	s.log.Info("secondary zone transferred", "zone", sec.origin, "serial", z.serial(), "records", len(rrs), "primary", sec.primary)
	s.sendNotify(z)
	return nil
}

// notifyFrom handles a NOTIFY: accepted (NOERROR, AA) for a secondary zone
// when it comes from that zone's primary, which triggers a refresh.
func (s *Service) notifyFrom(m *dns.Msg, q dns.Question, client netip.Addr) string {
	sec := s.secondaries[strings.ToLower(q.Name)]
	if sec == nil {
		m.Rcode = dns.RcodeRefused
		return "NOTIFY for a zone labd is not a secondary of"
	}
	host, _, _ := net.SplitHostPort(sec.primary)
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap() != client {
		m.Rcode = dns.RcodeRefused
		return "NOTIFY not from the zone's primary"
	}
	m.Authoritative = true
	sec.trigger()
	return "NOTIFY accepted: refreshing from " + sec.primary
}

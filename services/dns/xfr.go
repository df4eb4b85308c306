package dns

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"labd/internal/sessions"
)

// xfrChunk bounds the records of one AXFR message (uncompressed bytes).
const xfrChunk = 16 << 10

// transfer serves AXFR (and IXFR, answered with the full zone as RFC 1995
// allows) over TCP to the allow_transfer networks; everything else is
// refused.
func (s *Service) transfer(w dns.ResponseWriter, req, m *dns.Msg, tcp bool, client netip.Addr, sess *sessions.Session) string {
	q := req.Question[0]
	qname := strings.ToLower(q.Name)
	zs := s.zones.Load()
	z := zs.zones[qname]
	switch {
	case !tcp:
		sess.Notef("zone transfer refused: AXFR/IXFR needs TCP (dig +tcp or dig AXFR)")
		m.Rcode = dns.RcodeRefused
		return s.send(w, req, m, tcp, sess)
	case !contains(s.allowTransfer, client):
		sess.Notef("zone transfer refused: %s is not in dns.allow_transfer", client)
		s.log.Info("zone transfer refused", "zone", qname, "remote", client.String())
		m.Rcode = dns.RcodeRefused
		return s.send(w, req, m, tcp, sess)
	case z == nil:
		if zs.find(qname) != nil {
			m.Rcode = dns.RcodeNotAuth // inside a zone, not its apex
		} else {
			m.Rcode = dns.RcodeRefused
		}
		return s.send(w, req, m, tcp, sess)
	}
	var envs []*dns.Envelope
	cur := []dns.RR{z.soa}
	size := dns.Len(z.soa)
	for _, rr := range z.records {
		l := dns.Len(rr)
		if size+l > xfrChunk {
			envs = append(envs, &dns.Envelope{RR: cur})
			cur, size = nil, 0
		}
		cur = append(cur, rr)
		size += l
	}
	cur = append(cur, z.soa)
	envs = append(envs, &dns.Envelope{RR: cur})
	ch := make(chan *dns.Envelope, len(envs))
	for _, e := range envs {
		ch <- e
	}
	close(ch)
	tr := new(dns.Transfer)
	if err := tr.Out(w, req, ch); err != nil {
		sess.Notef("zone transfer interrupted: %v", err)
		return "axfr interrupted"
	}
	n := len(z.records) + 2
	sess.SetAttr("rcode", "NOERROR")
	sess.SetAttr("records", itoa(n))
	sess.Record(sessions.FromServer, fmt.Appendf(nil, "AXFR of %s serial %d: %d records in %d messages", z.origin, z.serial(), n, len(envs)), false)
	s.log.Info("zone transferred", "zone", z.origin, "serial", z.serial(), "records", n, "remote", client.String())
	return "axfr"
}

// sendNotify tells the configured secondaries that zone z changed (RFC
// 1996), in the background.
func (s *Service) sendNotify(z *zone) {
	for _, target := range s.cfg.DNS.Notify {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			m := new(dns.Msg)
			m.SetNotify(z.origin)
			m.Answer = []dns.RR{z.soa}
			c := &dns.Client{Timeout: 3 * time.Second}
			r, _, err := c.Exchange(m, target)
			switch {
			case err != nil:
				s.log.Warn("NOTIFY not acknowledged", "zone", z.origin, "serial", z.serial(), "to", target, "err", err)
			default:
				s.log.Info("NOTIFY sent", "zone", z.origin, "serial", z.serial(), "to", target, "rcode", dns.RcodeToString[r.Rcode])
			}
		}()
	}
}

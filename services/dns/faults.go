package dns

import (
	"strings"
	"time"

	"github.com/miekg/dns"

	"labd/internal/sessions"
)

// faultBefore applies the teacher's faults that act before an answer is
// built: a dropped UDP answer, a late answer, SERVFAIL or REFUSED for a
// name. done says the query is finished (dropped or answered).
func (s *Service) faultBefore(w dns.ResponseWriter, req *dns.Msg, q dns.Question, tcp bool, remote string, sess *sessions.Session) (done bool, result string) {
	set := s.deps.Faults
	if !set.Any() {
		return false, ""
	}
	if !tcp {
		if f, ok := set.Match("dns", "drop", "", remote); ok && f.Hit(nil) {
			sess.SetAttr("rcode", "dropped")
			sess.Notef("fault %d (%s): answer dropped; the client times out and retries", f.ID, f)
			return true, "fault: dropped"
		}
	}
	if f, ok := set.Match("dns", "delay", "", remote); ok {
		d := time.Duration(f.Int("ms")) * time.Millisecond
		sess.Notef("fault %d (%s): answer held back %s", f.ID, f, d)
		sess.Live() // seen on the dashboard while it waits
		time.Sleep(d)
	}
	for kind, rcode := range map[string]int{"servfail": dns.RcodeServerFailure, "refused": dns.RcodeRefused} {
		f, ok := set.Match("dns", kind, "", remote)
		if !ok || !nameMatches(f.Params["name"], q.Name) {
			continue
		}
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		m.RecursionAvailable = false
		sess.Notef("fault %d (%s): %s instead of the answer", f.ID, f, dns.RcodeToString[rcode])
		return true, s.send(w, req, m, tcp, sess)
	}
	return false, ""
}

// nameMatches: an empty fault name matches every query; otherwise the
// names compare without case and final dot.
func nameMatches(want, qname string) bool {
	if want == "" {
		return true
	}
	return strings.EqualFold(strings.TrimSuffix(want, "."), strings.TrimSuffix(qname, "."))
}

// faultTruncate forces TC on a UDP answer (records removed), so that the
// class sees the client retry over TCP. It says whether it did.
func (s *Service) faultTruncate(m *dns.Msg, tcp bool, remote string, sess *sessions.Session) bool {
	if tcp || !s.deps.Faults.Any() {
		return false
	}
	f, ok := s.deps.Faults.Match("dns", "truncate", "", remote)
	if !ok {
		return false
	}
	m.Truncated = true
	m.Answer, m.Ns = nil, nil
	var extra []dns.RR
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
	sess.Notef("fault %d (%s): TC set and records removed; the client should retry over TCP", f.ID, f)
	return true
}

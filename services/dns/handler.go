package dns

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"labd/internal/service"
	"labd/internal/sessions"
)

// maxUDP is the largest UDP message labd asks its forwarders for.
const maxUDP = 4096

// acceptQueries replaces miekg/dns's default accept function, whose
// rejections (FORMERR, NOTIMP) are the query's own header turned around:
// AD and CD copied, no OPT. Every request reaches ServeDNS, which answers
// those errors itself (see precheck); responses are still ignored.
func acceptQueries(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 { // QR: a response
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// precheck returns the error rcode of a malformed or unsupported request,
// or RcodeSuccess: opcodes other than QUERY and NOTIFY are NOTIMP; a
// request needs exactly one question, at most one answer record (NOTIFY's
// SOA) and one authority record (IXFR's SOA); more than one OPT is
// FORMERR (RFC 6891 6.1.1).
func precheck(req *dns.Msg) int {
	if req.Opcode != dns.OpcodeQuery && req.Opcode != dns.OpcodeNotify {
		return dns.RcodeNotImplemented
	}
	if len(req.Question) != 1 || len(req.Answer) > 1 || len(req.Ns) > 1 {
		return dns.RcodeFormatError
	}
	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return dns.RcodeFormatError
	}
	return dns.RcodeSuccess
}

// ServeDNS answers one query (UDP or TCP): it is the only handler.
func (s *Service) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	local, remote := addrStrings(w)
	defer service.Recover(s.log, "dns", "remote", remote)
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	transport := "udp"
	if tcp {
		transport = "tcp"
	}
	client := addrIP(w.RemoteAddr())
	// uw: the query came through labd's UDP loop, which may have looked
	// it up in the packed answers already (packed.go).
	uw, _ := w.(*udpWriter)
	var sess *sessions.Session
	if uw != nil {
		// Registered when it closes, or once it has to wait.
		sess = s.deps.Sessions.OpenQuick("dns", transport, local, remote)
	} else {
		sess = s.deps.Sessions.Open("dns", transport, local, remote)
	}
	result := "ok"
	defer func() { sess.Close(result) }()

	if rc := precheck(req); rc != dns.RcodeSuccess {
		m := new(dns.Msg)
		m.SetRcode(req, rc)
		if len(req.Question) > 0 {
			sess.SetAttr("name", req.Question[0].Name)
		}
		result = s.send(w, req, m, tcp, sess)
		return
	}
	q := req.Question[0]
	sess.SetAttr("name", q.Name)
	sess.SetAttr("type", typeString(q.Qtype))
	head, tail := queryTextParts(req)
	sess.Datagram(sessions.FromClient, queryText(head, tail, req.Id), wireOf(w, req, tcp), "")
	qlen := int64(req.Len())
	sess.AddBytes(qlen, 0)

	if !tcp && s.limiter != nil && !contains(s.rateExempt, client) {
		v := noVerdict
		if uw != nil {
			v = uw.verdict
		}
		if v == noVerdict {
			v = s.limiter.check(client, s.now().UnixNano())
		}
		switch v {
		case drop:
			sess.SetAttr("rcode", "dropped")
			sess.SetAttr("rate_limit", "drop")
			sess.Notef("rate limit: more than %d responses/s to %s, response dropped", s.cfg.DNS.RateLimit, client)
			result = "rate-limited (dropped)"
			return
		case slip:
			m := new(dns.Msg)
			m.SetReply(req)
			m.Truncated = true
			sess.SetAttr("rate_limit", "slip")
			sess.Notef("rate limit: more than %d responses/s to %s, empty truncated answer (slip) sent", s.cfg.DNS.RateLimit, client)
			s.send(w, req, m, tcp, sess)
			result = "rate-limited (slip)"
			return
		}
	}

	if done, res := s.faultBefore(w, req, q, tcp, remote, sess); done {
		result = res
		return
	}

	m := new(dns.Msg)
	m.SetReply(req)
	recursion := len(s.cfg.DNS.Forwarders) > 0 && contains(s.allowRecursion, client)
	m.RecursionAvailable = recursion
	switch {
	case req.Opcode == dns.OpcodeNotify:
		sess.Notef("%s", s.notifyFrom(m, q, client))
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		result = s.transfer(w, req, m, tcp, client, sess)
		return
	default:
		zs := s.zones.Load()
		qname := strings.ToLower(q.Name)
		if z := zs.find(qname); z != nil {
			rot := 0
			if uw != nil {
				rot = uw.rot
			}
			if rot == 0 {
				rot = int(s.rot.Add(1))
			}
			period := s.answer(m, zs, z, qname, q.Qtype, rot)
			if uw != nil && uw.wire != nil && !s.deps.Faults.Any() {
				// An answer from the zones alone: kept packed for
				// the next query with the same bytes.
				keep := &packedAnswer{}
				if s.faultTruncate(m, tcp, remote, sess) {
					keep = nil
				}
				result = s.sendKeep(w, req, m, tcp, sess, keep)
				if keep != nil && keep.wire != nil {
					keep.attrs["name"] = q.Name
					keep.attrs["type"] = typeString(q.Qtype)
					zs.packed.put(recursion, uw.wire[2:], rot, &packedQuery{
						qlen: qlen, textHead: head, textTail: tail, period: period,
					}, keep)
				}
				return
			}
		} else if recursion && req.RecursionDesired {
			sess.Live() // seen on the dashboard while it waits
			from := s.recurse(m, q)
			sess.SetAttr("source", from)
		} else {
			m.Rcode = dns.RcodeRefused
		}
	}
	s.faultTruncate(m, tcp, remote, sess)
	result = s.send(w, req, m, tcp, sess)
}

// answer fills m from zone z: AA, CNAME chasing inside the zone,
// wildcards, referrals below zone cuts, NXDOMAIN and NODATA with the SOA
// in the authority section, and A/AAAA of MX, NS and SRV targets in the
// additional section. RRsets rotate by rot, a per-query counter. It
// returns after how many steps of rot the answer repeats (the least common
// multiple of the rotated RRsets' sizes).
func (s *Service) answer(m *dns.Msg, zs *zoneSet, z *zone, qname string, qtype uint16, rot int) (period int) {
	m.Authoritative = true
	period = 1
	name := qname
	for hop := 0; hop < 8; hop++ {
		if cut, ns := z.delegation(name); ns != nil && (qtype != dns.TypeDS || cut != name) {
			if hop == 0 {
				m.Authoritative = false
			}
			m.Ns = append(m.Ns, ns...)
			s.additional(m, zs, ns)
			return
		}
		n := z.nodes[name]
		wild := false
		if n == nil {
			if n = z.wildcard(name); n == nil {
				m.Rcode = dns.RcodeNameError
				m.Ns = append(m.Ns, z.negSOA...)
				return
			}
			wild = true
		}
		if qtype != dns.TypeCNAME && qtype != dns.TypeANY {
			if c := n.sets[dns.TypeCNAME]; c != nil {
				m.Answer = appendSet(m.Answer, c, 0, wild, name)
				target := strings.ToLower(c[0].(*dns.CNAME).Target)
				if !dns.IsSubDomain(z.origin, target) {
					return
				}
				name = target
				continue
			}
		}
		apex := name == z.origin
		if qtype == dns.TypeANY {
			before := len(m.Answer)
			if apex {
				m.Answer = append(m.Answer, z.soa)
			}
			for _, set := range n.sets {
				m.Answer = appendSet(m.Answer, set, rot, wild, name)
				period = lcm(period, len(set))
			}
			if len(m.Answer) == before {
				m.Ns = append(m.Ns, z.negSOA...)
			}
			return
		}
		var set []dns.RR
		if qtype == dns.TypeSOA && apex {
			set = []dns.RR{z.soa}
		} else {
			set = n.sets[qtype]
		}
		if len(set) == 0 {
			m.Ns = append(m.Ns, z.negSOA...) // NODATA
			return
		}
		m.Answer = appendSet(m.Answer, set, rot, wild, name)
		period = lcm(period, len(set))
		switch qtype {
		case dns.TypeMX, dns.TypeNS, dns.TypeSRV:
			s.additional(m, zs, set)
		}
		return
	}
	return period
}

// appendSet appends an RRset rotated by rot; records synthesized from a
// wildcard are copies owned by the queried name.
func appendSet(dst, set []dns.RR, rot int, wild bool, owner string) []dns.RR {
	k := rot % len(set)
	if !wild {
		dst = append(dst, set[k:]...)
		return append(dst, set[:k]...)
	}
	for i := range set {
		rr := dns.Copy(set[(k+i)%len(set)])
		rr.Header().Name = owner
		dst = append(dst, rr)
	}
	return dst
}

// additional adds the A and AAAA records we hold for the targets of MX,
// NS and SRV records (glue for NS).
func (s *Service) additional(m *dns.Msg, zs *zoneSet, set []dns.RR) {
	var seen []string
	for _, rr := range set {
		var target string
		switch r := rr.(type) {
		case *dns.MX:
			target = r.Mx
		case *dns.NS:
			target = r.Ns
		case *dns.SRV:
			target = r.Target
		default:
			continue
		}
		target = strings.ToLower(target)
		if containsString(seen, target) {
			continue
		}
		seen = append(seen, target)
		z := zs.find(target)
		if z == nil {
			continue
		}
		n := z.nodes[target]
		if n == nil {
			continue
		}
		m.Extra = append(m.Extra, n.sets[dns.TypeA]...)
		m.Extra = append(m.Extra, n.sets[dns.TypeAAAA]...)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// send finishes m (EDNS0, truncation, compression), writes it, and
// records the answer in the session. It returns the session result.
func (s *Service) send(w dns.ResponseWriter, req, m *dns.Msg, tcp bool, sess *sessions.Session) string {
	return s.sendKeep(w, req, m, tcp, sess, nil)
}

// sendKeep is send; if keep is not nil, it also fills keep with the
// answer packed and as recorded (keep.wire stays nil if the answer could
// not be packed).
func (s *Service) sendKeep(w dns.ResponseWriter, req, m *dns.Msg, tcp bool, sess *sessions.Session, keep *packedAnswer) string {
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		// An error reply vouches for nothing (a forwarder's AD included).
		m.AuthenticatedData = false
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		// Every reply to an EDNS query carries an OPT, errors included
		// (RFC 6891 7), advertising dns.edns_udp_size (1232 by
		// default, DNS flag day 2020), which also caps UDP answers.
		ednsSize := s.cfg.DNS.EDNSUDPSize
		size = max(dns.MinMsgSize, min(int(opt.UDPSize()), ednsSize))
		m.SetEdns0(uint16(ednsSize), opt.Do())
		if opt.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			m.Answer, m.Ns = nil, nil
		}
	}
	if !tcp {
		answers, auth, wasTC := len(m.Answer), len(m.Ns), m.Truncated
		m.Truncate(size)
		if m.Truncated && (len(m.Answer) < answers || len(m.Ns) < auth) {
			// RFC 2181 9: an RRset that does not fit is not sent in
			// part; the client retries over TCP and gets it all.
			opt := m.IsEdns0()
			m.Answer, m.Ns, m.Extra = nil, nil, nil
			if opt != nil {
				m.Extra = []dns.RR{opt}
			}
		} else if len(m.Answer) == answers && len(m.Ns) == auth {
			// Only additional records were left out: not a reason for TC.
			m.Truncated = wasTC
		}
	}
	m.Compress = true
	buf, err := m.Pack()
	if err != nil {
		s.log.Warn("cannot pack the answer; sending SERVFAIL", "err", err, "remote", w.RemoteAddr().String())
		fail := new(dns.Msg)
		fail.SetRcode(req, dns.RcodeServerFailure)
		if opt := req.IsEdns0(); opt != nil {
			fail.SetEdns0(uint16(s.cfg.DNS.EDNSUDPSize), opt.Do())
		}
		buf, _ = fail.Pack()
		m = fail
		keep = nil
	}
	// The session is complete before the answer leaves: a client that
	// looks at the dashboard right after its answer finds the rcode.
	rcode := dns.RcodeToString[m.Rcode]
	sess.SetAttr("rcode", rcode)
	sess.SetAttr("size", itoa(len(buf)))
	if m.Truncated {
		sess.SetAttr("truncated", "yes")
	}
	sess.AddBytes(0, int64(len(buf)))
	text := answerText(m, len(buf), s.zones.Load())
	sess.Datagram(sessions.FromServer, text, frame(buf, tcp), "")
	result := strings.ToLower(rcode)
	if keep != nil {
		// What this function recorded, for the packed answer's sessions.
		attrs := map[string]string{"rcode": rcode, "size": itoa(len(buf))}
		if m.Truncated {
			attrs["truncated"] = "yes"
		}
		*keep = packedAnswer{wire: append([]byte(nil), buf...), text: text, attrs: attrs, result: result}
	}
	if _, err := w.Write(buf); err != nil {
		sess.Notef("write failed: %v", err)
	}
	return result
}

// addrStrings returns the local and remote addresses of w as text,
// formatted once per query (labd's UDP loop keeps them).
func addrStrings(w dns.ResponseWriter) (local, remote string) {
	if a, ok := w.(interface{ addrStrings() (string, string) }); ok {
		return a.addrStrings()
	}
	return w.LocalAddr().String(), w.RemoteAddr().String()
}

// wireOf returns the query as the pcapng export shows it: as it arrived
// over UDP (labd's UDP loop keeps it); over TCP miekg/dns hands over the
// parsed message only, so it is packed again: the same message, though
// name compression may differ from what was sent.
func wireOf(w dns.ResponseWriter, req *dns.Msg, tcp bool) []byte {
	if q, ok := w.(interface{ queryWire() []byte }); ok && !tcp {
		if b := q.queryWire(); b != nil {
			return b
		}
	}
	b, err := req.Pack()
	if err != nil {
		return nil
	}
	return frame(b, tcp)
}

// frame adds the two-byte length that precedes a DNS message over TCP
// (RFC 1035 4.2.2).
func frame(b []byte, tcp bool) []byte {
	if !tcp {
		return b
	}
	return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
}

func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + itoa(int(t))
}

// queryText is the transcript line of a query: "QUERY lab.test. IN MX
// id=4711 rd edns=1232", from the parts before and after the ID.
func queryText(head, tail []byte, id uint16) []byte {
	return appendQueryText(make([]byte, 0, len(head)+len(tail)+5), head, tail, id)
}

// appendQueryText appends the transcript line of a query to b.
func appendQueryText(b, head, tail []byte, id uint16) []byte {
	b = append(b, head...)
	b = strconv.AppendUint(b, uint64(id), 10)
	return append(b, tail...)
}

// queryTextParts returns the transcript line of a query before its ID
// ("QUERY lab.test. IN MX id=") and after it (" rd edns=1232").
func queryTextParts(req *dns.Msg) (head, tail []byte) {
	q := req.Question[0]
	b := make([]byte, 0, 96)
	b = append(b, dns.OpcodeToString[req.Opcode]...)
	b = append(b, ' ')
	b = append(b, q.Name...)
	b = append(b, ' ')
	b = append(b, dns.ClassToString[q.Qclass]...)
	b = append(b, ' ')
	b = append(b, typeString(q.Qtype)...)
	b = append(b, " id="...)
	head = b
	b = b[len(b):]
	if req.RecursionDesired {
		b = append(b, " rd"...)
	}
	if opt := req.IsEdns0(); opt != nil {
		b = append(b, " edns="...)
		b = append(b, itoa(int(opt.UDPSize()))...)
	}
	return head, b
}

// answerText is the transcript of an answer: the header and the first
// few answer records.
func answerText(m *dns.Msg, size int, zs *zoneSet) []byte {
	b := make([]byte, 0, 256)
	b = append(b, dns.RcodeToString[m.Rcode]...)
	b = append(b, " flags:"...)
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Authoritative, " aa"}, {m.Truncated, " tc"}, {m.RecursionDesired, " rd"}, {m.RecursionAvailable, " ra"}} {
		if f.on {
			b = append(b, f.name...)
		}
	}
	b = append(b, " answer="...)
	b = append(b, itoa(len(m.Answer))...)
	b = append(b, " authority="...)
	b = append(b, itoa(len(m.Ns))...)
	b = append(b, " additional="...)
	b = append(b, itoa(len(m.Extra))...)
	b = append(b, " size="...)
	b = append(b, itoa(size)...)
	for i, rr := range m.Answer {
		if i == 3 {
			b = append(b, "\n..."...)
			break
		}
		b = append(b, '\n')
		b = append(b, zs.text(rr)...)
	}
	if len(m.Answer) == 0 && len(m.Ns) > 0 {
		b = append(b, '\n')
		b = append(b, zs.text(m.Ns[0])...)
	}
	return b
}

func addrIP(a net.Addr) netip.Addr {
	switch t := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

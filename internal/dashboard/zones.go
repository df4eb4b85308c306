package dashboard

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Zone is one zone as the DNS service serves it, read by zone transfer.
type Zone struct {
	Origin  string
	Serial  uint32
	Records []Record
	Error   string
}

// Record is one resource record, split for the table.
type Record struct {
	Name, TTL, Type, Data string
}

// zones asks the running DNS service for its zones the way a secondary
// server would: a SOA query finds each zone's apex, an AXFR over TCP lists
// its records. The dashboard does not import the DNS service; this only
// works when dns.allow_transfer admits the loopback address (the default).
// The exchanges are the dashboard's own sessions and are marked so.
func (d *Dashboard) zones() ([]Zone, string) {
	ep, ok := d.deps.Endpoints.Find("dns", "tcp")
	if !ok {
		return nil, "The DNS service is not running."
	}
	host, port, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return nil, err.Error()
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.Is6() && !ip.Is4In6() {
			host = "::1"
		}
	}
	addr := net.JoinHostPort(host, port)
	cfg := d.deps.Config
	probes := []string{dns.Fqdn(cfg.Server.Domain)}
	for _, z := range cfg.DNS.Zones {
		probes = append(probes, dns.Fqdn(z.Origin))
	}
	for _, c := range append(append([]string{cfg.Server.PublicAddress}, cfg.Server.Listen...), cfg.DNS.IPv6Address, "127.0.0.1") {
		if a, err := netip.ParseAddr(c); err == nil && !a.IsUnspecified() {
			if r, err := dns.ReverseAddr(a.Unmap().String()); err == nil {
				probes = append(probes, r)
			}
		}
	}
	var origins []string
	for _, name := range probes {
		if o := d.apex(addr, name); o != "" && !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	var out []Zone
	for _, o := range origins {
		out = append(out, d.transfer(addr, o))
	}
	return out, ""
}

func (d *Dashboard) client() *dns.Client {
	return &dns.Client{Net: "tcp", Timeout: 3 * time.Second}
}

// apex returns the origin of the zone that holds name, or "".
func (d *Dashboard) apex(addr, name string) string {
	m := new(dns.Msg)
	m.SetQuestion(strings.ToLower(name), dns.TypeSOA)
	m.RecursionDesired = false
	conn, err := d.client().Dial(addr)
	if err != nil {
		return ""
	}
	defer d.markOwnDNS(conn.LocalAddr().String())
	defer conn.Close()
	r, _, err := d.client().ExchangeWithConn(m, conn)
	if err != nil || !r.Authoritative {
		return ""
	}
	for _, rr := range append(r.Answer, r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			return strings.ToLower(soa.Hdr.Name)
		}
	}
	return ""
}

func (d *Dashboard) transfer(addr, origin string) Zone {
	z := Zone{Origin: origin}
	conn, err := d.client().Dial(addr)
	if err != nil {
		z.Error = err.Error()
		return z
	}
	defer d.markOwnDNS(conn.LocalAddr().String())
	defer conn.Close()
	m := new(dns.Msg)
	m.SetAxfr(origin)
	tr := &dns.Transfer{Conn: conn, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second}
	ch, err := tr.In(m, addr)
	if err != nil {
		z.Error = err.Error()
		return z
	}
	soas := 0
	for env := range ch {
		if env.Error != nil {
			z.Error = "zone transfer refused or failed (" + env.Error.Error() + "): is the loopback address in dns.allow_transfer?"
			continue
		}
		for _, rr := range env.RR {
			if soa, ok := rr.(*dns.SOA); ok {
				soas++
				z.Serial = soa.Serial
				if soas > 1 {
					continue // the closing SOA
				}
			}
			h := rr.Header()
			data := strings.TrimPrefix(rr.String(), h.String())
			z.Records = append(z.Records, Record{Name: h.Name, TTL: strconv.FormatUint(uint64(h.Ttl), 10), Type: dns.TypeToString[h.Rrtype], Data: data})
		}
	}
	return z
}

// markOwnDNS marks the DNS sessions of one of the dashboard's own
// connections (identified by its local address).
func (d *Dashboard) markOwnDNS(local string) {
	for _, in := range d.deps.Sessions.List() {
		if strings.HasPrefix(in.Proto, "dns") && in.Remote == local && in.Attrs[ownAttr] == "" {
			if s, ok := d.deps.Sessions.Get(in.ID); ok {
				s.SetAttr(ownAttr, "1")
			}
		}
	}
}

package dns

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/miekg/dns"
)

// FuzzZone feeds master files to the zone loader ($INCLUDE may name the
// one file of a fake directory). Invariants: no panic; a zone that loads
// has exactly one SOA at its apex, NS records there, only names inside the
// origin, and a CNAME alone at its name.
func FuzzZone(f *testing.F) {
	f.Add("$TTL 300\n@ IN SOA ns1 admin 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww CNAME ns1\n*.w TXT \"hi\"\nsub NS ns.other.\n")
	f.Add("@ SOA ns1 admin ( 1 2 3 4 5 )\n@ NS ns1\n$INCLUDE /zones/inc.zone\n")
	f.Add("$ORIGIN other.\n@ SOA a b 1 2 3 4 5\n")
	f.Add("@ SOA ns1 admin 1 2 3 4 5\n@ NS ns1\nx CNAME a\nx A 1.2.3.4\n")
	f.Add("@ CH SOA a b 1 2 3 4 5\n$GENERATE 1-3 h$ A 10.0.0.$\n")
	f.Fuzz(func(t *testing.T, text string) {
		fsys := dirFS{prefix: "zones/", fsys: fstest.MapFS{"inc.zone": {Data: []byte("mail MX 10 ns1\n")}}}
		rrs, err := parseRecords(strings.NewReader(text), "lab.test.", "/zones/lab.zone", 300, fsys)
		if err != nil {
			return
		}
		z, err := newZone("lab.test.", rrs)
		if err != nil {
			return
		}
		if z.soa == nil || !strings.EqualFold(z.soa.Hdr.Name, "lab.test.") {
			t.Fatalf("zone loaded with SOA %v", z.soa)
		}
		if len(z.nodes["lab.test."].sets[dns.TypeNS]) == 0 {
			t.Fatal("zone loaded without apex NS")
		}
		for _, rr := range z.records {
			if !dns.IsSubDomain("lab.test.", strings.ToLower(rr.Header().Name)) || rr.Header().Class != dns.ClassINET {
				t.Fatalf("record %v loaded", rr)
			}
		}
		for name, n := range z.nodes {
			if len(n.sets[dns.TypeCNAME]) > 0 && len(n.sets) > 1 {
				t.Fatalf("%s: CNAME and other data loaded", name)
			}
		}
	})
}

package dns

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// node is one owner name of a zone: its RRsets by type. An empty
// non-terminal (a name that only exists because names below it do) has no
// sets, so that it answers NODATA rather than NXDOMAIN.
type node struct {
	sets map[uint16][]dns.RR
}

// zone is one authoritative zone, immutable once built: queries read it
// without locks and a reload swaps in a new one.
type zone struct {
	origin string // lower case, fully qualified
	file   string // master file, "" for generated zones
	// primary is the server a secondary zone was transferred from.
	primary string
	soa     *dns.SOA
	// negSOA is the SOA sent in the authority section of negative
	// answers, with the TTL RFC 2308 asks for (min of TTL and minimum).
	negSOA []dns.RR
	nodes  map[string]*node
	// cuts is true when some name below the apex has NS records
	// (a delegation), so that lookups check for referrals.
	cuts bool
	// records in load order, SOA excluded (AXFR sends them between two
	// SOAs).
	records []dns.RR
	// text is a fingerprint of the content (without the serial), used to
	// tell whether a generated zone changed.
	text string
}

func (z *zone) serial() uint32 { return z.soa.Serial }

// newZone checks the records of one zone and indexes them.
func newZone(origin string, rrs []dns.RR) (*zone, error) {
	origin = strings.ToLower(dns.Fqdn(origin))
	z := &zone{origin: origin, nodes: map[string]*node{origin: {}}}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		name := strings.ToLower(h.Name)
		if !dns.IsSubDomain(origin, name) {
			return nil, fmt.Errorf("%s is outside the zone %s", strings.TrimSpace(rr.String()), origin)
		}
		if h.Class != dns.ClassINET {
			return nil, fmt.Errorf("%s: only class IN is served", strings.TrimSpace(rr.String()))
		}
		if soa, ok := rr.(*dns.SOA); ok {
			if name != origin {
				return nil, fmt.Errorf("SOA for %s is not at the zone apex %s", h.Name, origin)
			}
			if z.soa != nil {
				return nil, fmt.Errorf("zone %s has two SOA records", origin)
			}
			z.soa = soa
			continue
		}
		n := z.ensure(name)
		if n.sets == nil {
			n.sets = map[uint16][]dns.RR{}
		}
		if slices.ContainsFunc(n.sets[h.Rrtype], func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
			continue // an RRset is a set (RFC 2181 5)
		}
		n.sets[h.Rrtype] = append(n.sets[h.Rrtype], rr)
		if h.Rrtype == dns.TypeNS && name != origin {
			z.cuts = true
		}
		z.records = append(z.records, rr)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("zone %s has no SOA record", origin)
	}
	if len(z.nodes[origin].sets[dns.TypeNS]) == 0 {
		return nil, fmt.Errorf("zone %s has no NS record at its apex", origin)
	}
	for name, n := range z.nodes {
		if c := n.sets[dns.TypeCNAME]; c != nil {
			if len(c) > 1 {
				return nil, fmt.Errorf("%s has %d CNAME records; a CNAME must be alone", name, len(c))
			}
			if len(n.sets) > 1 || name == origin {
				return nil, fmt.Errorf("%s has a CNAME and other records; a CNAME must be alone (RFC 1034 3.6.2)", name)
			}
		}
	}
	neg := dns.Copy(z.soa).(*dns.SOA)
	neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
	z.negSOA = []dns.RR{neg}
	var b strings.Builder
	for _, rr := range z.records {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	s := *z.soa
	s.Serial = 0
	b.WriteString(s.String())
	z.text = b.String()
	return z, nil
}

// ensure returns the node of name, creating it and the empty
// non-terminals between it and the apex.
func (z *zone) ensure(name string) *node {
	n, ok := z.nodes[name]
	if ok {
		return n
	}
	n = &node{}
	z.nodes[name] = n
	for p := name; p != z.origin; {
		off, end := dns.NextLabel(p, 0)
		if end {
			break
		}
		p = p[off:]
		if _, ok := z.nodes[p]; ok {
			break
		}
		z.nodes[p] = &node{}
	}
	return n
}

// wildcard returns the node that synthesizes an answer for a name that
// does not exist (RFC 4592): "*." + the closest encloser, if present.
func (z *zone) wildcard(name string) *node {
	for p := name; len(p) > len(z.origin); {
		off, end := dns.NextLabel(p, 0)
		if end {
			return nil
		}
		p = p[off:]
		if _, ok := z.nodes[p]; ok {
			return z.nodes["*."+p]
		}
	}
	return nil
}

// delegation returns the NS set of the highest zone cut between the apex
// (excluded) and name (included), or nil.
func (z *zone) delegation(name string) (string, []dns.RR) {
	if !z.cuts {
		return "", nil
	}
	// Collect the ancestors first: the highest cut wins.
	var cut string
	var ns []dns.RR
	for p := name; len(p) > len(z.origin); {
		if n := z.nodes[p]; n != nil {
			if s := n.sets[dns.TypeNS]; s != nil {
				cut, ns = p, s
			}
		}
		off, end := dns.NextLabel(p, 0)
		if end {
			break
		}
		p = p[off:]
	}
	return cut, ns
}

// parseZone reads a master file. $INCLUDE is allowed, restricted to the
// directory of the file (an os.Root refuses .. and symlinks out of it).
// Errors name the file (or the included file) and the line.
func parseZone(origin, file string, defaultTTL uint32) (*zone, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	dir := filepath.Dir(abs)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	defer root.Close()
	f, err := root.Open(filepath.Base(abs))
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	defer f.Close()
	fsys := dirFS{prefix: strings.TrimLeft(filepath.ToSlash(dir), "/") + "/", fsys: root.FS()}
	rrs, err := parseRecords(f, origin, abs, defaultTTL, fsys)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	z, err := newZone(origin, rrs)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %s: %w", origin, abs, err)
	}
	z.file = file
	return z, nil
}

// dirFS serves the $INCLUDE targets of a zone file: the parser asks for
// the absolute path (without its leading slash), which must lie in the
// zone file's directory.
type dirFS struct {
	prefix string
	fsys   fs.FS
}

func (d dirFS) Open(name string) (fs.File, error) {
	rel, ok := strings.CutPrefix(name, d.prefix)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: "/" + name, Err: errors.New("$INCLUDE may only name files in the zone file's directory")}
	}
	return d.fsys.Open(rel)
}

func parseRecords(r io.Reader, origin, name string, defaultTTL uint32, fsys fs.FS) ([]dns.RR, error) {
	zp := dns.NewZoneParser(r, origin, name)
	zp.SetDefaultTTL(defaultTTL)
	if fsys != nil {
		zp.SetIncludeAllowed(true)
		zp.SetIncludeFS(fsys)
	}
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	return rrs, nil
}

package config

import "net/netip"

// DNS configures services/dns: an authoritative server for the lab zones,
// UDP and TCP on the same addresses.
type DNS struct {
	Enabled bool     `yaml:"enabled"`
	Listen  []string `yaml:"listen"`
	// Zones are BIND master files loaded besides the built-in lab zone.
	Zones []Zone `yaml:"zones"`
	// Forwarders (host:port) answer recursive queries from AllowRecursion
	// networks; empty means no recursion at all (REFUSED).
	Forwarders     []string `yaml:"forwarders"`
	AllowRecursion []string `yaml:"allow_recursion"`
	// AllowTransfer (CIDR) may AXFR; Notify (host:port) get NOTIFY on reload.
	AllowTransfer []string `yaml:"allow_transfer"`
	Notify        []string `yaml:"notify"`
	// Secondaries are zones labd copies from another server (its
	// primary) by AXFR, at start, every SOA refresh, and on NOTIFY.
	Secondaries []Secondary `yaml:"secondaries"`
	// RateLimit is responses per second per client address (0: off).
	RateLimit int `yaml:"rate_limit"`
	// RateLimitSlip: over the limit, every Nth response is sent as an
	// empty truncated (TC) answer so that a real client retries over TCP;
	// the others are dropped. 1 slips every response (default 2).
	RateLimitSlip int `yaml:"rate_limit_slip"`
	// RateLimitExempt (CIDR) are never rate limited (a load generator).
	RateLimitExempt []string `yaml:"rate_limit_exempt"`
	TTL             int      `yaml:"ttl"`
	// IPv6Address is the host's IPv6 address for AAAA records of the
	// built-in zone (and its ip6.arpa PTR) when no IPv6 address is in
	// server.public_address or server.listen.
	IPv6Address string `yaml:"ipv6_address"`
	// Records are extra records for the built-in lab zone, in master-file
	// syntax relative to the lab domain ("printer IN A 10.0.0.5").
	Records []string `yaml:"records"`
	// EDNSUDPSize is the EDNS UDP payload size labd advertises and the
	// largest UDP answer it sends (512..4096; default 1232, DNS flag day
	// 2020: no IP fragmentation on common paths).
	EDNSUDPSize int `yaml:"edns_udp_size"`
}

// Secondary is one zone served as a secondary.
type Secondary struct {
	Origin string `yaml:"origin"`
	// Primary is the host:port labd transfers the zone from.
	Primary string `yaml:"primary"`
}

// Zone is one master file.
type Zone struct {
	Origin string `yaml:"origin"`
	File   string `yaml:"file"`
}

func (d *DNS) setDefaults(c *Config) {
	if d.Listen == nil {
		d.Listen = c.Addrs(53)
	}
	if d.AllowTransfer == nil {
		d.AllowTransfer = []string{"127.0.0.0/8", "::1/128"}
	}
	if d.AllowRecursion == nil {
		d.AllowRecursion = []string{"127.0.0.0/8", "::1/128"}
	}
	if d.RateLimit == 0 {
		d.RateLimit = 200
	}
	if d.RateLimitSlip == 0 {
		d.RateLimitSlip = 2
	}
	if d.TTL == 0 {
		d.TTL = 300
	}
	if d.EDNSUDPSize == 0 {
		d.EDNSUDPSize = 1232
	}
}

func (d *DNS) validate(v *validator) {
	v.listen("dns.listen", d.Listen)
	if d.EDNSUDPSize < 512 || d.EDNSUDPSize > 4096 {
		v.errorf("dns.edns_udp_size", "%d is outside 512..4096 (1232 avoids IP fragmentation)", d.EDNSUDPSize)
	}
	for _, z := range d.Zones {
		if z.Origin == "" {
			v.errorf("dns.zones", "zone file %q needs an origin", z.File)
		}
		v.file("dns.zones", z.File)
	}
	for _, sec := range d.Secondaries {
		if sec.Origin == "" || sec.Primary == "" {
			v.errorf("dns.secondaries", "each secondary zone needs an origin and a primary (host:port)")
		}
		v.listen("dns.secondaries", []string{sec.Primary})
	}
	v.listen("dns.forwarders", d.Forwarders)
	v.listen("dns.notify", d.Notify)
	v.cidrs("dns.allow_recursion", d.AllowRecursion)
	v.cidrs("dns.allow_transfer", d.AllowTransfer)
	v.cidrs("dns.rate_limit_exempt", d.RateLimitExempt)
	v.positive("dns.rate_limit", d.RateLimit)
	v.positive("dns.rate_limit_slip", d.RateLimitSlip)
	v.positive("dns.ttl", d.TTL)
	if d.IPv6Address != "" {
		if a, err := netip.ParseAddr(d.IPv6Address); err != nil || !a.Is6() || a.Is4In6() {
			v.errorf("dns.ipv6_address", "%q is not an IPv6 address", d.IPv6Address)
		}
	}
}

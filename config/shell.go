package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ConnectRule is one entry of shell.allow_connect: an address or a prefix,
// and a port (0: any).
type ConnectRule struct {
	Prefix netip.Prefix
	Port   int
}

// ParseConnectRule reads "10.0.0.0/24", "192.0.2.7", "127.0.0.1:25",
// "[::1]:8080" or "10.0.0.0/24:80".
func ParseConnectRule(s string) (ConnectRule, error) {
	host, port := s, 0
	if i := strings.LastIndex(s, ":"); i >= 0 && (strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1) {
		p, err := strconv.Atoi(s[i+1:])
		if err != nil || p < 1 || p > 65535 {
			return ConnectRule{}, fmt.Errorf("%q: the port must be 1-65535", s)
		}
		host, port = strings.Trim(s[:i], "[]"), p
	}
	if strings.Contains(host, "/") {
		pfx, err := netip.ParsePrefix(host)
		if err != nil {
			return ConnectRule{}, fmt.Errorf("%q is not an address, prefix (10.0.0.0/24) or address:port", s)
		}
		return ConnectRule{Prefix: pfx.Masked(), Port: port}, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ConnectRule{}, fmt.Errorf("%q is not an address, prefix (10.0.0.0/24) or address:port", s)
	}
	return ConnectRule{Prefix: netip.PrefixFrom(a, a.BitLen()), Port: port}, nil
}

// Allows reports whether the rule covers addr:port.
func (r ConnectRule) Allows(ap netip.AddrPort) bool {
	return r.Prefix.Contains(ap.Addr().Unmap()) && (r.Port == 0 || r.Port == int(ap.Port()))
}

// setDefaults leaves allow_connect empty: the shell then allows labd's own
// listening addresses, known only once the services are bound.
func (s *Shell) setDefaults(c *Config) {}

func (s *Shell) validate(v *validator) {
	for _, e := range s.AllowConnect {
		if _, err := ParseConnectRule(e); err != nil {
			v.errorf("shell.allow_connect", "%v", err)
		}
	}
}

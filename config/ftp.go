package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// FTP configures services/ftp: control on 21, passive data on a port range.
type FTP struct {
	Enabled bool     `yaml:"enabled"`
	Listen  []string `yaml:"listen"`
	// PassivePorts is "first-last" for PASV/EPSV data connections, or "0"
	// to let the kernel pick any free port (tests; hosts without a
	// firewall).
	PassivePorts string `yaml:"passive_ports"`
	// PublicHost is the IPv4 address PASV replies carry (server.public_address
	// when empty, else the address the client reached).
	PublicHost string `yaml:"public_host"`
	// ActiveFromPort20 makes active-mode data connections come from port 20
	// (needs root or CAP_NET_BIND_SERVICE).
	ActiveFromPort20 bool `yaml:"active_from_port_20"`
	// Anonymous lets USER anonymous (or ftp), any password, read pub/.
	// On in the lab profile, off unless set in a config file.
	Anonymous bool `yaml:"anonymous"`
	// PubWritable lets logged-in users write into /pub of their FTP view,
	// the shared pub/ directory that anonymous FTP and TFTP serve (files
	// put there are fetched over TFTP by name). Default false: read-only.
	PubWritable bool `yaml:"pub_writable"`
	// RequireTLS refuses USER before AUTH TLS.
	RequireTLS    bool     `yaml:"require_tls"`
	MaxConnsPerIP int      `yaml:"max_conns_per_ip"`
	IdleTimeout   Duration `yaml:"idle_timeout"`
	// MaxFileBytes bounds one upload (0: no limit).
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// QuotaBytes bounds a user's home (0: no quota).
	QuotaBytes int64 `yaml:"quota_bytes"`
}

func (f *FTP) setDefaults(c *Config) {
	if f.Listen == nil {
		f.Listen = c.Addrs(21)
	}
	if f.PassivePorts == "" {
		if c.Ephemeral {
			// Tests run many daemons at once: any free port.
			f.PassivePorts = "0"
		} else if c.Server.PortOffset > 0 {
			f.PassivePorts = "30000-30099"
		} else {
			f.PassivePorts = "40000-40099"
		}
	}
	if f.MaxConnsPerIP == 0 {
		f.MaxConnsPerIP = 20
	}
	if f.IdleTimeout == 0 {
		f.IdleTimeout = Duration(5 * 60e9)
	}
	if c.File == "" {
		// The lab profile (no config file): anonymous read-only pub/ on.
		f.Anonymous = true
	}
}

// PassiveRange returns the passive port range; ok is false for "0" (any
// port the kernel picks).
func (f *FTP) PassiveRange() (first, last int, ok bool) {
	lo, hi, found := strings.Cut(strings.TrimSpace(f.PassivePorts), "-")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return a, b, true
}

func (f *FTP) validate(v *validator) {
	v.listen("ftp.listen", f.Listen)
	if strings.TrimSpace(f.PassivePorts) != "0" {
		v.portRange("ftp.passive_ports", strings.ReplaceAll(f.PassivePorts, " ", ""))
	}
	if f.PublicHost != "" {
		if a, err := netip.ParseAddr(f.PublicHost); err != nil || !a.Unmap().Is4() {
			v.errorf("ftp.public_host", "%q is not an IPv4 address (PASV replies can only carry IPv4; write the VM's address such as 192.168.56.10)", f.PublicHost)
		}
	}
	v.positive("ftp.max_conns_per_ip", f.MaxConnsPerIP)
	if f.IdleTimeout < 0 {
		v.errorf("ftp.idle_timeout", "must not be negative")
	}
	if f.MaxFileBytes < 0 {
		v.errorf("ftp.max_file_bytes", "must not be negative (0: no limit)")
	}
	if f.QuotaBytes < 0 {
		v.errorf("ftp.quota_bytes", "must not be negative (0: no quota)")
	}
}

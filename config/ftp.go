package config

// FTP configures services/ftp: control on 21, passive data on a port range.
type FTP struct {
	Enabled bool     `yaml:"enabled"`
	Listen  []string `yaml:"listen"`
	// PassivePorts is "first-last" for PASV/EPSV data connections.
	PassivePorts string `yaml:"passive_ports"`
	// PublicHost is the IPv4 address PASV replies carry (server.public_address
	// when empty).
	PublicHost string `yaml:"public_host"`
	// ActiveFromPort20 makes active-mode data connections come from port 20
	// (needs root or CAP_NET_BIND_SERVICE).
	ActiveFromPort20 bool `yaml:"active_from_port_20"`
	Anonymous        bool `yaml:"anonymous"`
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
		if c.Server.PortOffset > 0 {
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
}

func (f *FTP) validate(v *validator) {
	v.listen("ftp.listen", f.Listen)
	v.portRange("ftp.passive_ports", f.PassivePorts)
	v.positive("ftp.max_conns_per_ip", f.MaxConnsPerIP)
}

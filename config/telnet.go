package config

// Telnet configures services/telnet.
type Telnet struct {
	Enabled      bool     `yaml:"enabled"`
	Listen       []string `yaml:"listen"`
	MaxAuthTries int      `yaml:"max_auth_tries"`
	IdleTimeout  Duration `yaml:"idle_timeout"`
	// MaxConnsPerIP caps simultaneous connections from one address.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

func (t *Telnet) setDefaults(c *Config) {
	if t.Listen == nil {
		t.Listen = c.Addrs(23)
	}
	if t.MaxAuthTries == 0 {
		t.MaxAuthTries = 3
	}
	if t.IdleTimeout == 0 {
		t.IdleTimeout = Duration(15 * 60e9)
	}
	if t.MaxConnsPerIP == 0 {
		t.MaxConnsPerIP = 20
	}
}

func (t *Telnet) validate(v *validator) {
	v.listen("telnet.listen", t.Listen)
	v.positive("telnet.max_auth_tries", t.MaxAuthTries)
	v.positive("telnet.max_conns_per_ip", t.MaxConnsPerIP)
	if t.IdleTimeout < 0 {
		v.errorf("telnet.idle_timeout", "must not be negative")
	}
}

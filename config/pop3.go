package config

// POP3 configures services/pop3: 110 with STLS, 995 implicit TLS.
type POP3 struct {
	Enabled   bool     `yaml:"enabled"`
	Listen    []string `yaml:"listen"`
	TLSListen []string `yaml:"tls_listen"`
	// RequireTLSForAuth refuses USER/PASS and AUTH before STLS.
	RequireTLSForAuth bool     `yaml:"require_tls_for_auth"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	MaxConnsPerIP     int      `yaml:"max_conns_per_ip"`
}

func (p *POP3) setDefaults(c *Config) {
	if p.Listen == nil {
		p.Listen = c.Addrs(110)
	}
	if p.TLSListen == nil {
		p.TLSListen = c.Addrs(995)
	}
	if p.IdleTimeout == 0 {
		p.IdleTimeout = Duration(10 * 60e9)
	}
	if p.MaxConnsPerIP == 0 {
		p.MaxConnsPerIP = 50
	}
}

func (p *POP3) validate(v *validator) {
	v.listen("pop3.listen", p.Listen)
	v.listen("pop3.tls_listen", p.TLSListen)
	v.positive("pop3.max_conns_per_ip", p.MaxConnsPerIP)
}

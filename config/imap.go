package config

// IMAP configures services/imap: 143 with STARTTLS, 993 implicit TLS.
type IMAP struct {
	Enabled   bool     `yaml:"enabled"`
	Listen    []string `yaml:"listen"`
	TLSListen []string `yaml:"tls_listen"`
	// RequireTLSForAuth advertises LOGINDISABLED before STARTTLS.
	RequireTLSForAuth bool     `yaml:"require_tls_for_auth"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	MaxConnsPerIP     int      `yaml:"max_conns_per_ip"`
	// BodyCacheBytes bounds the in-memory cache of whole messages
	// (imapcache.go).
	BodyCacheBytes int64 `yaml:"body_cache_bytes"`
}

func (p *IMAP) setDefaults(c *Config) {
	if p.Listen == nil {
		p.Listen = c.Addrs(143)
	}
	if p.TLSListen == nil {
		p.TLSListen = c.Addrs(993)
	}
	if p.IdleTimeout == 0 {
		p.IdleTimeout = Duration(30 * 60e9)
	}
	if p.MaxConnsPerIP == 0 {
		p.MaxConnsPerIP = 50
	}
	p.setCacheDefaults()
}

func (p *IMAP) validate(v *validator) {
	v.listen("imap.listen", p.Listen)
	v.listen("imap.tls_listen", p.TLSListen)
	v.positive("imap.max_conns_per_ip", p.MaxConnsPerIP)
	p.validateCache(v)
}

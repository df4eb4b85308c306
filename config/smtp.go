package config

// SMTP configures services/smtp: MX on 25, submission on 587, SMTPS on 465.
type SMTP struct {
	Enabled          bool     `yaml:"enabled"`
	Listen           []string `yaml:"listen"`
	SubmissionListen []string `yaml:"submission_listen"`
	TLSListen        []string `yaml:"tls_listen"`
	// LocalDomains are accepted for local delivery besides server.domain.
	LocalDomains []string `yaml:"local_domains"`
	// RelayNetworks (CIDR) may send to foreign domains without AUTH.
	RelayNetworks []string `yaml:"relay_networks"`
	// RequireTLSForAuth refuses AUTH before STARTTLS (off: the class
	// watches AUTH in clear in Wireshark).
	RequireTLSForAuth bool     `yaml:"require_tls_for_auth"`
	Vrfy              bool     `yaml:"vrfy"`
	MaxMessageBytes   int64    `yaml:"max_message_bytes"`
	MaxRecipients     int      `yaml:"max_recipients"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	MaxConnsPerIP     int      `yaml:"max_conns_per_ip"`
}

func (s *SMTP) setDefaults(c *Config) {
	if s.Listen == nil {
		s.Listen = c.Addrs(25)
	}
	if s.SubmissionListen == nil {
		s.SubmissionListen = c.Addrs(587)
	}
	if s.TLSListen == nil {
		s.TLSListen = c.Addrs(465)
	}
	if s.MaxMessageBytes == 0 {
		s.MaxMessageBytes = 25 << 20
	}
	if s.MaxRecipients == 0 {
		s.MaxRecipients = 100
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = Duration(10 * 60e9)
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = Duration(60e9)
	}
	if s.MaxConnsPerIP == 0 {
		s.MaxConnsPerIP = 50
	}
}

func (s *SMTP) validate(v *validator) {
	v.listen("smtp.listen", s.Listen)
	v.listen("smtp.submission_listen", s.SubmissionListen)
	v.listen("smtp.tls_listen", s.TLSListen)
	v.cidrs("smtp.relay_networks", s.RelayNetworks)
	if s.MaxMessageBytes < 0 {
		v.errorf("smtp.max_message_bytes", "must not be negative")
	}
	v.positive("smtp.max_recipients", s.MaxRecipients)
	v.positive("smtp.max_conns_per_ip", s.MaxConnsPerIP)
}

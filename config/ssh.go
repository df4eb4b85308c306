package config

// SSH configures services/ssh: the lab shell, exec and SFTP.
type SSH struct {
	Enabled bool     `yaml:"enabled"`
	Listen  []string `yaml:"listen"`
	// MaxAuthTries closes the connection after this many failures.
	MaxAuthTries int `yaml:"max_auth_tries"`
	// LegacyRSASHA1 also signs with the RSA host key in ssh-rsa (SHA-1),
	// for PuTTY before 0.75 and other clients without rsa-sha2-256.
	LegacyRSASHA1 bool `yaml:"legacy_rsa_sha1"`
	// AllowForwarding enables TCP port forwarding (off: a lab host is not a
	// proxy).
	AllowForwarding bool     `yaml:"allow_forwarding"`
	IdleTimeout     Duration `yaml:"idle_timeout"`
}

func (s *SSH) setDefaults(c *Config) {
	if s.Listen == nil {
		s.Listen = c.Addrs(22)
	}
	if s.MaxAuthTries == 0 {
		s.MaxAuthTries = 6
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = Duration(30 * 60e9)
	}
}

func (s *SSH) validate(v *validator) {
	v.listen("ssh.listen", s.Listen)
	v.positive("ssh.max_auth_tries", s.MaxAuthTries)
	if s.IdleTimeout < 0 {
		v.errorf("ssh.idle_timeout", "must not be negative (0 means the default, 30m)")
	}
}

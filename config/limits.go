package config

import "time"

// Limits share the daemon fairly between students behind one NAT address
// and bound what unauthenticated connections may hold (docs/security.md).
// Before login a connection counts against its service's per-address cap
// (max_conns_per_ip of each section), must log in within login_timeout, and
// must finish each command line it starts within line_timeout. After login
// it counts against max_conns_per_user instead, so a class of 40 logged-in
// students shares no per-address budget with a student holding connections
// open without logging in.
type Limits struct {
	// MaxConnsPerService caps the simultaneous connections of one service
	// (all addresses together).
	MaxConnsPerService int `yaml:"max_conns_per_service"`
	// MaxConnsPerUser caps the logged-in connections of one user on one
	// service (a mail client opens several).
	MaxConnsPerUser int `yaml:"max_conns_per_user"`
	// LoginTimeout: a POP3, IMAP, FTP or Telnet connection not logged in
	// after this long is closed.
	LoginTimeout Duration `yaml:"login_timeout"`
	// SMTPSessionTimeout: the same for SMTP, where most sessions never log
	// in (mail delivery, typed by hand): the whole unauthenticated session.
	SMTPSessionTimeout Duration `yaml:"smtp_session_timeout"`
	// SSHLoginGrace is OpenSSH's LoginGraceTime: handshake and
	// authentication must end within it.
	SSHLoginGrace Duration `yaml:"ssh_login_grace"`
	// SSHMaxConnsPerIP caps the connections of one address not yet logged
	// in to SSH.
	SSHMaxConnsPerIP int `yaml:"ssh_max_conns_per_ip"`
	// LineTimeout: a command line started before login must end within it,
	// so a connection trickling a byte every few seconds is cut.
	LineTimeout Duration `yaml:"line_timeout"`
	// InflightMessageBytes bounds the bytes of messages being received
	// (SMTP DATA, IMAP APPEND) by all sessions together; each is held in
	// memory about three times while it is stored. Beyond it a transfer
	// gets a try-again reply (SMTP 452, IMAP NO [LIMIT]). 0: the default;
	// -1: no limit.
	InflightMessageBytes int64 `yaml:"inflight_message_bytes"`
}

func (l *Limits) setDefaults(c *Config) {
	if l.MaxConnsPerService == 0 {
		l.MaxConnsPerService = 3000
	}
	if l.MaxConnsPerUser == 0 {
		l.MaxConnsPerUser = 16
	}
	if l.LoginTimeout == 0 {
		l.LoginTimeout = Duration(2 * time.Minute)
	}
	if l.SMTPSessionTimeout == 0 {
		l.SMTPSessionTimeout = Duration(15 * time.Minute)
	}
	if l.SSHLoginGrace == 0 {
		l.SSHLoginGrace = Duration(60 * time.Second)
	}
	if l.SSHMaxConnsPerIP == 0 {
		l.SSHMaxConnsPerIP = 50
	}
	if l.InflightMessageBytes == 0 {
		l.InflightMessageBytes = 64 << 20
	}
	if l.LineTimeout == 0 {
		l.LineTimeout = Duration(60 * time.Second)
	}
}

func (l *Limits) validate(v *validator) {
	v.positive("limits.max_conns_per_service", l.MaxConnsPerService)
	v.positive("limits.max_conns_per_user", l.MaxConnsPerUser)
	v.positive("limits.ssh_max_conns_per_ip", l.SSHMaxConnsPerIP)
	if l.InflightMessageBytes < -1 {
		v.errorf("limits.inflight_message_bytes", "must be a byte count, or -1 for no limit (got %d)", l.InflightMessageBytes)
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{
		{"limits.login_timeout", l.LoginTimeout}, {"limits.smtp_session_timeout", l.SMTPSessionTimeout},
		{"limits.ssh_login_grace", l.SSHLoginGrace}, {"limits.line_timeout", l.LineTimeout},
	} {
		if d.d < Duration(time.Second) {
			v.errorf(d.key, "must be at least 1s, got %s", time.Duration(d.d))
		}
	}
}

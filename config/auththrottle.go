package config

import "time"

// AuthThrottle tunes the password-guessing throttle every login path
// shares (internal/authguard, docs/security.md). It delays, it never locks
// out.
type AuthThrottle struct {
	// FreeTries: failures of one account from one address that are not
	// spaced (typos).
	FreeTries int `yaml:"free_tries"`
	// MaxGap caps the growing gap (1 s, 2 s, 4 s…) between the attempts of
	// one account from one address.
	MaxGap Duration `yaml:"max_gap"`
	// AccountGap spaces the attempts on an account under attack, from all
	// addresses together (per lane: the owner's and the others').
	AccountGap Duration `yaml:"account_gap"`
	// AddressFreeFailures and AddressGap: after that many failures from one
	// address (all accounts), its attempts are spaced by AddressGap.
	AddressFreeFailures int      `yaml:"address_free_failures"`
	AddressGap          Duration `yaml:"address_gap"`
	// MaxWait: an attempt that would wait longer fails at once, unchecked.
	MaxWait Duration `yaml:"max_wait"`
	// Forget clears the failures of an account or address idle this long.
	Forget Duration `yaml:"forget"`
}

func (a *AuthThrottle) setDefaults(c *Config) {
	if a.FreeTries == 0 {
		a.FreeTries = 3
	}
	if a.MaxGap == 0 {
		a.MaxGap = Duration(16 * time.Second)
	}
	if a.AccountGap == 0 {
		a.AccountGap = Duration(time.Second)
	}
	if a.AddressFreeFailures == 0 {
		a.AddressFreeFailures = 40
	}
	if a.AddressGap == 0 {
		a.AddressGap = Duration(250 * time.Millisecond)
	}
	if a.MaxWait == 0 {
		a.MaxWait = Duration(20 * time.Second)
	}
	if a.Forget == 0 {
		a.Forget = Duration(15 * time.Minute)
	}
}

func (a *AuthThrottle) validate(v *validator) {
	v.positive("auth_throttle.free_tries", a.FreeTries)
	v.positive("auth_throttle.address_free_failures", a.AddressFreeFailures)
	for _, d := range []struct {
		key string
		d   Duration
	}{
		{"auth_throttle.max_gap", a.MaxGap}, {"auth_throttle.account_gap", a.AccountGap},
		{"auth_throttle.address_gap", a.AddressGap}, {"auth_throttle.max_wait", a.MaxWait},
		{"auth_throttle.forget", a.Forget},
	} {
		if d.d < 0 {
			v.errorf(d.key, "must not be negative (got %s)", time.Duration(d.d))
		}
	}
}

package config

import "time"

// Faults configures the faults a teacher switches on for a lesson (labd
// fault set, the dashboard's Faults page).
type Faults struct {
	// MaxDuration bounds how long one fault may last (default 2h); each
	// fault switches itself off at its end (default 10m when set).
	MaxDuration Duration `yaml:"max_duration"`
	// KeepAcrossRestart keeps active faults in data_dir/faults.json so that
	// a restart does not end a lesson's faults (default false: a restart
	// clears them; a reload never does).
	KeepAcrossRestart bool `yaml:"keep_across_restart"`
}

func (f *Faults) setDefaults(c *Config) {
	if f.MaxDuration == 0 {
		f.MaxDuration = Duration(2 * time.Hour)
	}
}

func (f *Faults) validate(v *validator) {
	if f.MaxDuration < Duration(time.Minute) || f.MaxDuration > Duration(7*24*time.Hour) {
		v.errorf("faults.max_duration", "must be between 1m and 168h (write 2h)")
	}
}

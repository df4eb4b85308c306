package config

// Exercises configures the exercises the teacher checks from the session
// records (docs/exercises.md).
type Exercises struct {
	// Builtin enables the course's built-in pack (default: on in the lab
	// profile, off with a config file).
	Builtin *bool `yaml:"builtin"`
	// File is a YAML file of the teacher's own exercises; one with the id
	// of a built-in exercise replaces it. labd check validates it.
	File string `yaml:"file"`
}

// BuiltinOn says whether the built-in pack is enabled.
func (e *Exercises) BuiltinOn() bool { return e.Builtin != nil && *e.Builtin }

// On says whether any exercise is declared.
func (e *Exercises) On() bool { return e.BuiltinOn() || e.File != "" }

func (e *Exercises) setDefaults(c *Config) {
	if e.Builtin == nil {
		on := c.File == ""
		e.Builtin = &on
	}
}

func (e *Exercises) validate(v *validator) {}

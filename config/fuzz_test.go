package config

import (
	"os"
	"testing"
)

// FuzzParse feeds YAML to the config loader. Invariants: no panic; either
// a config or an error; a config that loads passes Validate again, and
// every error names the file.
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile("../labd.yaml.example"); err == nil {
		f.Add(string(ex))
	}
	f.Add("server:\n  domain: lab.test\n  listen: [127.0.0.1]\n")
	f.Add("smtp:\n  enabled: true\n  read_timeout: 5m\n  listen: [\":2525\"]\n")
	f.Add("dns:\n  zones:\n    - origin: x.\n      file: /nonexistent\n")
	f.Add("nope: 1\n")
	f.Add("server: [\n")
	f.Add("pop3:\n  idle_timeout: -1s\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse("fuzz.yaml", []byte(text))
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v", c, err)
		}
		if err != nil {
			if msg := err.Error(); len(msg) == 0 {
				t.Fatal("empty error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
	})
}

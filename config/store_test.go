package config

import (
	"strings"
	"testing"
)

func TestStoreSection(t *testing.T) {
	cases := []struct {
		name, yaml string
		driver     string
		err        string
	}{
		{"default is sqlite", "", "sqlite", ""},
		{"postgres with dsn", "store:\n  driver: postgres\n  dsn: postgres://labd@db/labd\n", "postgres", ""},
		{"postgres without dsn", "store:\n  driver: postgres\n", "", "store.dsn"},
		{"unknown driver", "store:\n  driver: mysql\n", "", "store.driver"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("labd.yaml", []byte("server:\n  domain: school.lab\n"+c.yaml))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one naming %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.Driver != c.driver {
				t.Errorf("driver %q, want %q", cfg.Store.Driver, c.driver)
			}
		})
	}
	if c := Lab(); c.Store.Driver != "sqlite" {
		t.Errorf("lab profile driver %q", c.Store.Driver)
	}
}

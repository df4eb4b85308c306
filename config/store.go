package config

// Store chooses labd's database (internal/store). SQLite, a file in
// server.data_dir, suits one host; several labd hosts that share one
// roster and one set of mailboxes use one PostgreSQL database
// (docs/scale-out.md).
type Store struct {
	// Driver is sqlite or postgres.
	Driver string `yaml:"driver"`
	// DSN is, for postgres, the connection string (a postgres:// URL or
	// libpq key=value pairs; required); for sqlite, the database file
	// (empty: server.data_dir/labd.db).
	DSN string `yaml:"dsn"`
}

func (s *Store) setDefaults(*Config) {
	if s.Driver == "" {
		s.Driver = "sqlite"
	}
}

func (s *Store) validate(v *validator) {
	switch s.Driver {
	case "sqlite":
	case "postgres":
		if s.DSN == "" {
			v.errorf("store.dsn", "is required with store.driver postgres, e.g. postgres://labd@db.lab.example/labd")
		}
	default:
		v.errorf("store.driver", "%q is not one of sqlite, postgres", s.Driver)
	}
}

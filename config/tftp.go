package config

// TFTP configures services/tftp (UDP).
type TFTP struct {
	Enabled bool     `yaml:"enabled"`
	Listen  []string `yaml:"listen"`
	// Root is served to read requests; empty means DataDir/pub.
	Root string `yaml:"root"`
	// AllowWrite enables write requests, only into UploadDir (relative to
	// Root).
	AllowWrite bool   `yaml:"allow_write"`
	UploadDir  string `yaml:"upload_dir"`
	// Overwrite lets a write replace an existing file.
	Overwrite bool     `yaml:"overwrite"`
	Timeout   Duration `yaml:"timeout"`
	Retries   int      `yaml:"retries"`
}

func (t *TFTP) setDefaults(c *Config) {
	if t.Listen == nil {
		t.Listen = c.Addrs(69)
	}
	if t.UploadDir == "" {
		t.UploadDir = "upload"
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(5e9)
	}
	if t.Retries == 0 {
		t.Retries = 5
	}
}

func (t *TFTP) validate(v *validator) {
	v.listen("tftp.listen", t.Listen)
	if t.Root != "" {
		v.file("tftp.root", t.Root)
	}
	v.positive("tftp.retries", t.Retries)
}

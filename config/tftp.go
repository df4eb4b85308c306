package config

import (
	"path/filepath"
	"time"
)

// TFTP configures services/tftp (UDP).
type TFTP struct {
	Enabled bool     `yaml:"enabled"`
	Listen  []string `yaml:"listen"`
	// Root is served to read requests; empty means DataDir/pub.
	Root string `yaml:"root"`
	// AllowWrite enables write requests, only into UploadDir (relative to
	// Root). On by default in the lab profile (127.0.0.1 only), off in a
	// config file unless set.
	AllowWrite bool   `yaml:"allow_write"`
	UploadDir  string `yaml:"upload_dir"`
	// Overwrite lets a write replace an existing file.
	Overwrite bool `yaml:"overwrite"`
	// Timeout is how long the server waits for each ACK or DATA before
	// sending its last packet again (RFC 2349 allows 1s to 255s).
	Timeout Duration `yaml:"timeout"`
	// Retries is how many times a packet is sent before the transfer is
	// abandoned.
	Retries int `yaml:"retries"`
	// MaxFileBytes bounds one uploaded file; a bigger write is refused
	// with error 3 (disk full or allocation exceeded).
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxBlockSize caps the blksize option (RFC 2348, 512 to 65464); the
	// server also caps it to the interface MTU minus the IP and UDP
	// headers.
	MaxBlockSize int `yaml:"max_blksize"`
}

func (t *TFTP) setDefaults(c *Config) {
	if t.Listen == nil {
		t.Listen = c.Addrs(69)
	}
	if t.UploadDir == "" {
		t.UploadDir = "upload"
	}
	if c.File == "" {
		// Lab profile: on 127.0.0.1 only, and the class puts files.
		t.AllowWrite = true
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(5 * time.Second)
	}
	if t.Retries == 0 {
		t.Retries = 5
	}
	if t.MaxFileBytes == 0 {
		t.MaxFileBytes = 1 << 30
	}
	if t.MaxBlockSize == 0 {
		t.MaxBlockSize = 65464
	}
}

func (t *TFTP) validate(v *validator) {
	v.listen("tftp.listen", t.Listen)
	if t.Root != "" {
		v.file("tftp.root", t.Root)
	}
	if t.UploadDir != "." && !filepath.IsLocal(t.UploadDir) {
		v.errorf("tftp.upload_dir", "%q must be a relative path inside tftp.root (such as upload), without ..", t.UploadDir)
	}
	if d := t.Timeout.D(); d < time.Second || d > 255*time.Second {
		v.errorf("tftp.timeout", "must be between 1s and 255s (RFC 2349), got %s", d)
	}
	v.positive("tftp.retries", t.Retries)
	v.positive("tftp.max_file_bytes", int(min(t.MaxFileBytes, 1<<40)))
	if t.MaxBlockSize < 512 || t.MaxBlockSize > 65464 {
		v.errorf("tftp.max_blksize", "must be between 512 and 65464 (RFC 2348), got %d", t.MaxBlockSize)
	}
}

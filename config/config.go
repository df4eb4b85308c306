// Package config holds labd's configuration schema, its two sets of defaults
// (the lab profile used without a config file, and the production profile
// used with one), strict YAML parsing and validation.
//
// Every protocol has its own section in a file of its own (http.go, smtp.go,
// ...). A section knows its defaults (setDefaults) and checks itself
// (validate); adding a protocol means adding one file here and one field to
// Config.
package config

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one labd daemon.
type Config struct {
	Server   Server   `yaml:"server"`
	TLS      TLS      `yaml:"tls"`
	Sessions Sessions `yaml:"sessions"`
	Users    Users    `yaml:"users"`
	Shell    Shell    `yaml:"shell"`
	HTTP     HTTP     `yaml:"http"`
	SMTP     SMTP     `yaml:"smtp"`
	POP3     POP3     `yaml:"pop3"`
	IMAP     IMAP     `yaml:"imap"`
	DNS      DNS      `yaml:"dns"`
	FTP      FTP      `yaml:"ftp"`
	TFTP     TFTP     `yaml:"tftp"`
	SSH      SSH      `yaml:"ssh"`
	Telnet   Telnet   `yaml:"telnet"`
	Store    Store    `yaml:"store"`

	Dashboard Dashboard `yaml:"dashboard"`
	Metrics   Metrics   `yaml:"metrics"`
	Faults    Faults    `yaml:"faults"`
	Exercises Exercises `yaml:"exercises"`
	Limits    Limits    `yaml:"limits"`
	// AuthThrottle: see config/auththrottle.go.
	AuthThrottle AuthThrottle `yaml:"auth_throttle"`
	// Runtime: see config/runtime.go.
	Runtime Runtime `yaml:"runtime"`

	// File is the path the config was read from; empty for the lab profile.
	File string `yaml:"-"`
	// Ephemeral makes every default listen address port 0 (tests).
	Ephemeral bool `yaml:"-"`
	// root is the parsed YAML document, kept to give errors a line number.
	root *yaml.Node
}

// Server holds what every service shares.
type Server struct {
	// Hostname is the name the host gives itself in banners, greetings and
	// the DNS zone (a short name, qualified with Domain when needed).
	Hostname string `yaml:"hostname"`
	// Domain is the lab mail and DNS domain.
	Domain string `yaml:"domain"`
	// DataDir holds the database, homes, pub/, TLS material and host keys.
	DataDir string `yaml:"data_dir"`
	// Listen lists the IP addresses every service binds unless its own
	// section says otherwise.
	Listen []string `yaml:"listen"`
	// PortOffset is added to every standard port (10000 in the lab profile).
	PortOffset int `yaml:"port_offset"`
	// PublicAddress is the address students use to reach this host: DNS A
	// records and FTP passive replies carry it. Empty means the first
	// listen address, or the detected outbound address if that is a
	// wildcard.
	PublicAddress string `yaml:"public_address"`
	// GracePeriod is how long sessions may run on after SIGTERM.
	GracePeriod Duration `yaml:"grace_period"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// DebugListen, if set, serves Go's pprof profiles (/debug/pprof/) on
	// this loopback address:port for whoever administers the host. Off
	// (empty) by default.
	DebugListen string `yaml:"debug_listen"`
	// Language of what labd writes for people (en or fr); empty: from the
	// environment (see Lang).
	Language string `yaml:"language"`
	// Node names this labd among the hosts sharing one PostgreSQL
	// database (its sessions on the shared dashboard); default: the
	// host name's first label (config/node.go).
	Node string `yaml:"node"`
}

// TLS names the certificate every TLS listener uses. Empty fields mean a CA
// and a server certificate generated into DataDir/tls at first start.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Sessions bounds the session registry.
type Sessions struct {
	// History is how many finished sessions are kept per protocol.
	History int `yaml:"history"`
	// TranscriptBytes bounds the transcript of one session.
	TranscriptBytes int `yaml:"transcript_bytes"`
	// TotalBytes bounds all transcripts together.
	TotalBytes int `yaml:"total_bytes"`
	// TLSKeyLog keeps the TLS secrets of each session so that its pcapng
	// export decrypts in Wireshark (default true).
	TLSKeyLog *bool `yaml:"tls_keylog"`
}

// KeyLog says whether TLS secrets are kept with the sessions.
func (s Sessions) KeyLog() bool { return s.TLSKeyLog == nil || *s.TLSKeyLog }

// Users configures the shared user database.
type Users struct {
	// Demo creates alice/alice and bob/bob at start if they do not exist.
	Demo bool `yaml:"demo"`
}

// Shell configures the lab shell used by SSH and Telnet.
type Shell struct {
	// Banner is shown before login (Telnet) or as the SSH banner.
	Banner string `yaml:"banner"`
	// Motd is shown after login.
	Motd string `yaml:"motd"`
	// AllowConnect lists where the shell's network clients may connect
	// (config/shell.go); empty: labd's own listening addresses.
	AllowConnect []string `yaml:"allow_connect"`
}

// Duration is a time.Duration written as "30s" or "5m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts Go duration strings and plain integer seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 30s", n.Line)
	}
	if secs, err := strconv.Atoi(n.Value); err == nil {
		*d = Duration(time.Duration(secs) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write 30s, 5m or 1h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Lab returns the lab profile: what `labd serve` runs without a config file.
// Every port is the standard one plus 10000, on 127.0.0.1 and ::1 only, with
// the demo users, state in ./labd-data.
func Lab() *Config {
	hosts := []string{"127.0.0.1"}
	if haveIPv6Loopback() {
		hosts = append(hosts, "::1")
	}
	return lab(false, hosts)
}

// haveIPv6Loopback says whether ::1 can be bound: the lab profile listens
// on it too where the OS allows, and on IPv4 alone where IPv6 is off.
func haveIPv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// LabEphemeral is the lab profile with every service on 127.0.0.1 port 0
// and state in dataDir: what tests run, many at once.
func LabEphemeral(dataDir string) *Config {
	return LabEphemeralOn(dataDir, "127.0.0.1")
}

// LabEphemeralOn is LabEphemeral listening on the given addresses (tests
// over ::1).
func LabEphemeralOn(dataDir string, hosts ...string) *Config {
	c := lab(true, hosts)
	c.Server.DataDir = dataDir
	return c
}

func lab(ephemeral bool, hosts []string) *Config {
	c := &Config{Ephemeral: ephemeral}
	c.Server = Server{
		Hostname:    "labd",
		Domain:      "lab.test",
		DataDir:     "./labd-data",
		Listen:      hosts,
		PortOffset:  10000,
		GracePeriod: Duration(10 * time.Second),
		LogLevel:    "info",
	}
	c.Users.Demo = true
	c.enableAll()
	c.setDefaults()
	return c
}

// production returns the base of a config read from a file: standard ports on
// all addresses, no demo users, state in /var/lib/labd.
func production() *Config {
	c := &Config{}
	c.Server = Server{
		Domain:      "lab.test",
		DataDir:     "/var/lib/labd",
		GracePeriod: Duration(10 * time.Second),
		LogLevel:    "info",
	}
	c.enableAll()
	return c
}

// enableAll switches every service on; a config file switches off what it
// does not want with enabled: false.
func (c *Config) enableAll() {
	for _, e := range []*bool{&c.HTTP.Enabled, &c.SMTP.Enabled, &c.POP3.Enabled, &c.IMAP.Enabled,
		&c.DNS.Enabled, &c.FTP.Enabled, &c.TFTP.Enabled, &c.SSH.Enabled, &c.Telnet.Enabled} {
		*e = true
	}
}

// Load reads, parses and validates a config file. A nil error means the
// config is usable; the error otherwise lists every problem, each with its
// file, line and key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	c := production()
	c.File = name
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) > 0 {
		if errs := unknownKeys(name, root.Content[0], c); len(errs) > 0 {
			return nil, errs
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.root = root.Content[0]
	}
	if len(c.Server.Listen) == 0 {
		c.Server.Listen = []string{"0.0.0.0"}
	}
	if c.Server.Hostname == "" {
		h, _ := os.Hostname()
		if h == "" {
			h = "labd"
		}
		c.Server.Hostname = h
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) setDefaults() {
	c.Server.setNodeDefault()
	if c.Sessions.History == 0 {
		c.Sessions.History = 1000
	}
	if c.Sessions.TranscriptBytes == 0 {
		c.Sessions.TranscriptBytes = 64 << 10
	}
	if c.Sessions.TotalBytes == 0 {
		c.Sessions.TotalBytes = 64 << 20
	}
	if c.Sessions.TLSKeyLog == nil {
		on := true
		c.Sessions.TLSKeyLog = &on
	}
	if c.Shell.Motd == "" {
		c.Shell.Motd = DefaultMotd(c.Server.Lang())
	}
	for _, s := range c.sections() {
		s.setDefaults(c)
	}
}

// section is what each protocol's config section implements.
type section interface {
	setDefaults(c *Config)
	validate(v *validator)
}

func (c *Config) sections() []section {
	return []section{&c.HTTP, &c.SMTP, &c.POP3, &c.IMAP, &c.DNS, &c.FTP, &c.TFTP, &c.SSH, &c.Telnet, &c.Dashboard, &c.Metrics, &c.Faults, &c.Exercises, &c.Store, &c.Limits, &c.AuthThrottle, &c.Shell, &c.Runtime}
}

// Addrs returns host:port for each server listen address and the given
// standard port shifted by the port offset. Services use it for defaults.
func (c *Config) Addrs(stdPort int) []string {
	port := stdPort + c.Server.PortOffset
	if c.Ephemeral {
		port = 0
	}
	out := make([]string, 0, len(c.Server.Listen))
	for _, h := range c.Server.Listen {
		out = append(out, net.JoinHostPort(h, strconv.Itoa(port)))
	}
	return out
}

// FQDN is the host's fully qualified name in the lab domain.
func (c *Config) FQDN() string {
	h := c.Server.Hostname
	if h == "" {
		h = "labd"
	}
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			return h
		}
	}
	return h + "." + c.Server.Domain
}

// Line returns the line of a dotted key such as "smtp.listen" in the config
// file, or 0 when unknown (lab profile, or key not written).
func (c *Config) Line(key string) int {
	if c.root == nil {
		return 0
	}
	n := lookup(c.root, key)
	if n == nil {
		return 0
	}
	return n.Line
}

package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Errors is every problem found in one config, each with file and line.
type Errors []string

func (e Errors) Error() string {
	if len(e) == 1 {
		return e[0]
	}
	return fmt.Sprintf("%d problems in the config:\n  %s", len(e), strings.Join(e, "\n  "))
}

type validator struct {
	c    *Config
	errs Errors
}

// errorf records a problem with a dotted key such as "smtp.listen".
func (v *validator) errorf(key, format string, args ...any) {
	where := v.c.File
	if where == "" {
		where = "lab profile"
	}
	if line := v.c.Line(key); line > 0 {
		where = fmt.Sprintf("%s:%d", where, line)
	}
	v.errs = append(v.errs, fmt.Sprintf("%s: %s: %s", where, key, fmt.Sprintf(format, args...)))
}

// listen checks a list of host:port listen addresses.
func (v *validator) listen(key string, addrs []string) {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			v.errorf(key, "%q is not host:port (write 0.0.0.0:25 or 127.0.0.1:10025)", a)
			continue
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			v.errorf(key, "port %q in %q is not a number between 1 and 65535", port, a)
		}
		if host != "" {
			if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
				v.errorf(key, "%q in %q is not an IP address", host, a)
			}
		}
	}
}

// file checks that a configured path exists.
func (v *validator) file(key, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		v.errorf(key, "file %q: %v", path, err)
	}
}

func (v *validator) positive(key string, n int) {
	if n < 0 {
		v.errorf(key, "must not be negative (got %d)", n)
	}
}

// Validate checks the whole config and returns Errors, or nil.
func (c *Config) Validate() error {
	v := &validator{c: c}
	s := c.Server
	if s.Domain == "" || strings.ContainsAny(s.Domain, " /@") {
		v.errorf("server.domain", "%q is not a domain name", s.Domain)
	}
	if s.DataDir == "" {
		v.errorf("server.data_dir", "must be set")
	}
	for _, h := range s.Listen {
		if _, err := netip.ParseAddr(h); err != nil {
			v.errorf("server.listen", "%q is not an IP address (write 0.0.0.0, :: or 127.0.0.1)", h)
		}
	}
	s.validateNode(v)
	if s.PortOffset < 0 || s.PortOffset > 60000 {
		v.errorf("server.port_offset", "must be between 0 and 60000 (got %d)", s.PortOffset)
	}
	if s.PublicAddress != "" {
		if _, err := netip.ParseAddr(s.PublicAddress); err != nil {
			v.errorf("server.public_address", "%q is not an IP address", s.PublicAddress)
		}
	}
	if s.DebugListen != "" {
		host, _, err := net.SplitHostPort(s.DebugListen)
		ip, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !ip.IsLoopback() {
			v.errorf("server.debug_listen", "%q must be a loopback address and port such as 127.0.0.1:6060: profiles are for the host's administrator, never for students", s.DebugListen)
		}
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error", "trace":
	default:
		v.errorf("server.log_level", "%q is not one of trace, debug, info, warn, error", s.LogLevel)
	}
	validateLanguage(v, s.Language)
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		v.errorf("tls", "cert and key go together: set both or neither")
	}
	v.file("tls.cert", c.TLS.Cert)
	v.file("tls.key", c.TLS.Key)
	v.positive("sessions.history", c.Sessions.History)
	v.positive("sessions.transcript_bytes", c.Sessions.TranscriptBytes)
	if c.Sessions.TotalBytes < c.Sessions.TranscriptBytes {
		v.errorf("sessions.total_bytes", "is smaller than sessions.transcript_bytes")
	}
	for _, sec := range c.sections() {
		sec.validate(v)
	}
	v.duplicateAddrs()
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

// Endpoint is one address a service listens on.
type Endpoint struct {
	Service string // "smtp", "submission", "imaps", ...
	Network string // "tcp" or "udp"
	Addr    string
}

// Endpoints lists every enabled listen address of every service.
func (c *Config) Endpoints() []Endpoint {
	var out []Endpoint
	add := func(enabled bool, service, network string, addrs []string) {
		if !enabled {
			return
		}
		for _, a := range addrs {
			out = append(out, Endpoint{service, network, a})
		}
	}
	add(c.HTTP.Enabled, "http", "tcp", c.HTTP.Listen)
	add(c.HTTP.Enabled, "https", "tcp", c.HTTP.TLSListen)
	add(c.HTTP.Enabled && c.Dashboard.On(), "dashboard", "tcp", append(append([]string(nil), c.Dashboard.Listen...), c.Dashboard.TLSListen...))
	add(c.SMTP.Enabled, "smtp", "tcp", c.SMTP.Listen)
	add(c.SMTP.Enabled, "submission", "tcp", c.SMTP.SubmissionListen)
	add(c.SMTP.Enabled, "smtps", "tcp", c.SMTP.TLSListen)
	add(c.POP3.Enabled, "pop3", "tcp", c.POP3.Listen)
	add(c.POP3.Enabled, "pop3s", "tcp", c.POP3.TLSListen)
	add(c.IMAP.Enabled, "imap", "tcp", c.IMAP.Listen)
	add(c.IMAP.Enabled, "imaps", "tcp", c.IMAP.TLSListen)
	add(c.DNS.Enabled, "dns", "udp", c.DNS.Listen)
	add(c.DNS.Enabled, "dns", "tcp", c.DNS.Listen)
	add(c.FTP.Enabled, "ftp", "tcp", c.FTP.Listen)
	add(c.TFTP.Enabled, "tftp", "udp", c.TFTP.Listen)
	add(c.SSH.Enabled, "ssh", "tcp", c.SSH.Listen)
	add(c.Telnet.Enabled, "telnet", "tcp", c.Telnet.Listen)
	add(c.Metrics.Listen != "", "metrics", "tcp", []string{c.Metrics.Listen})
	return out
}

// duplicateAddrs refuses two services on one address (port 0 excepted).
func (v *validator) duplicateAddrs() {
	seen := map[string]string{}
	for _, e := range v.c.Endpoints() {
		if strings.HasSuffix(e.Addr, ":0") {
			continue
		}
		k := e.Network + " " + e.Addr
		if prev, ok := seen[k]; ok && prev != e.Service {
			v.errorf(e.Service, "%s %s is also used by %s", e.Network, e.Addr, prev)
		}
		seen[k] = e.Service
	}
}

// unknownKeys walks the YAML mapping against the struct it decodes into and
// reports every key the schema does not have, with its line and the keys
// that would be valid there.
func unknownKeys(file string, n *yaml.Node, into any) Errors {
	var errs Errors
	var walk func(n *yaml.Node, t reflect.Type, path string)
	walk = func(n *yaml.Node, t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
			return
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			key := k.Value
			if path != "" {
				key = path + "." + k.Value
			}
			if !ok {
				known := make([]string, 0, len(fields))
				for name := range fields {
					known = append(known, name)
				}
				sort.Strings(known)
				errs = append(errs, fmt.Sprintf("%s:%d: unknown key %q (known keys here: %s)", file, k.Line, key, strings.Join(known, ", ")))
				continue
			}
			walk(val, ft, key)
		}
	}
	walk(n, reflect.TypeOf(into), "")
	return errs
}

// lookup finds the value node of a dotted key.
func lookup(n *yaml.Node, key string) *yaml.Node {
	cur := n
	var keyNode *yaml.Node
	for _, part := range strings.Split(key, ".") {
		if cur == nil || cur.Kind != yaml.MappingNode {
			return keyNode
		}
		var next *yaml.Node
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == part {
				keyNode = cur.Content[i]
				next = cur.Content[i+1]
				break
			}
		}
		if next == nil {
			return keyNode
		}
		cur = next
	}
	return keyNode
}

func (v *validator) cidrs(key string, list []string) {
	for _, s := range list {
		if _, err := netip.ParsePrefix(s); err != nil {
			v.errorf(key, "%q is not a network in CIDR form (write 10.0.0.0/8)", s)
		}
	}
}

func (v *validator) portRange(key, r string) {
	lo, hi, ok := strings.Cut(r, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		v.errorf(key, "%q is not a port range such as 30000-30099", r)
	}
}

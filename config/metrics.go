package config

import (
	"net"
	"strconv"
)

// Metrics configures the Prometheus endpoint (GET /metrics on a listener of
// its own, never on the students' HTTP port).
type Metrics struct {
	// Listen is host:port; empty switches metrics off, the production
	// default. The lab profile serves them on 127.0.0.1:19180.
	Listen string `yaml:"listen"`
}

func (m *Metrics) setDefaults(c *Config) {
	if m.Listen != "" || c.File != "" {
		return
	}
	if c.Ephemeral {
		m.Listen = "127.0.0.1:0"
		return
	}
	m.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(9180+c.Server.PortOffset))
}

func (m *Metrics) validate(v *validator) {
	if m.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(m.Listen); err != nil {
		v.errorf("metrics.listen", "must be host:port, such as 127.0.0.1:9180 (%v)", err)
	}
}

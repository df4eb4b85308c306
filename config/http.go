package config

// HTTP configures the web server (services/http): the static site, /~user/,
// the request echo, status demos and, later, the instructor's dashboard.
type HTTP struct {
	Enabled   bool     `yaml:"enabled"`
	Listen    []string `yaml:"listen"`
	TLSListen []string `yaml:"tls_listen"`
	// Root is a directory served as the site; empty means the built-in
	// index page that lists this host's services.
	Root string `yaml:"root"`
	// ReadTimeout bounds reading one request (headers and body).
	ReadTimeout Duration `yaml:"read_timeout"`
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnsPerIP caps simultaneous connections from one client address.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

func (h *HTTP) setDefaults(c *Config) {
	if h.Listen == nil {
		h.Listen = c.Addrs(80)
	}
	if h.TLSListen == nil {
		h.TLSListen = c.Addrs(443)
	}
	if h.ReadTimeout == 0 {
		h.ReadTimeout = Duration(60e9)
	}
	if h.IdleTimeout == 0 {
		h.IdleTimeout = Duration(120e9)
	}
	if h.MaxConnsPerIP == 0 {
		h.MaxConnsPerIP = 200
	}
}

func (h *HTTP) validate(v *validator) {
	v.listen("http.listen", h.Listen)
	v.listen("http.tls_listen", h.TLSListen)
	if h.Root != "" {
		v.file("http.root", h.Root)
	}
	v.positive("http.max_conns_per_ip", h.MaxConnsPerIP)
}

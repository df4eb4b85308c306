package config

import (
	"regexp"
	"strings"
)

// validNode is a node name: it labels a host's sessions on the shared
// dashboard (docs/scale-out.md), so short and plain.
var validNode = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// defaultNode derives server.node from the host name: its first label,
// lowercased, with anything else than [a-z0-9-] replaced by '-' (a host
// called Lab_PC.example.org is node lab-pc).
func defaultNode(hostname string) string {
	h, _, _ := strings.Cut(strings.ToLower(hostname), ".")
	b := []byte(h)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	n := strings.Trim(string(b), "-")
	if len(n) > 32 {
		n = strings.TrimRight(n[:32], "-")
	}
	if n == "" {
		n = "labd"
	}
	return n
}

func (s *Server) setNodeDefault() {
	if s.Node == "" {
		s.Node = defaultNode(s.Hostname)
	}
}

func (s *Server) validateNode(v *validator) {
	if !validNode.MatchString(s.Node) {
		v.errorf("server.node", "%q is not a node name: use 1 to 32 lowercase letters, digits and '-' (not first or last), e.g. room-a", s.Node)
	}
}

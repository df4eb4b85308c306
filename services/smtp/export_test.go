package smtp

import "net"

// ServeListener serves the connections l accepts with the go-smtp server
// of kind ("smtp" or "submission"), each behind the line filter as Serve
// does (the session fuzzer hands it net.Pipe ends).
func (s *Service) ServeListener(kind string, l net.Listener) error {
	return s.servers[kind].Serve(listener{Listener: l, wrap: func(c net.Conn) net.Conn {
		return newLineConn(c, false, s.deps.TLS.Config(), s.cfg.ReadTimeout.D(), s.deps.Config.Server.Domain, s.vrfy)
	}})
}

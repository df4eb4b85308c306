package telnet

import "net"

// Handle serves one connection (the session fuzzer drives it over a
// net.Pipe).
func (s *Service) Handle(c net.Conn) { s.handle(c) }

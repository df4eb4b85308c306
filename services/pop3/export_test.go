package pop3

import "net"

// Handle serves one plaintext connection (the session fuzzer drives it
// over a net.Pipe).
func (s *Service) Handle(c net.Conn) { s.handle(c, false) }

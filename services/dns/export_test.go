package dns

import (
	"net"
	"net/netip"
	"time"
)

// Test hooks for the external tests (package dns_test, which can use
// labtest without an import cycle).

// BigCount is the number of A records of big.<domain>.
const BigCount = bigCount

// SetClock replaces the clock of the cache and the rate limiter; call it
// before Bind.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// UDPLoop returns a function that answers one packet as labd's UDP loop
// does (packed answers included), over conn, to from.
func (s *Service) UDPLoop(conn *net.UDPConn) func(pkt []byte, from netip.AddrPort) {
	u := newUDPServer(conn, s)
	w := &udpWriter{u: u}
	return func(pkt []byte, from netip.AddrPort) {
		w.reset(from, nil)
		u.handle(w, pkt)
	}
}

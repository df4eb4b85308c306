// Package netconn finds what lies under a connection's wrappers: labd
// wraps every connection several times (the recording conn, the
// per-address limiter, a protocol's filters, crypto/tls), and each
// wrapper that matters exposes what it wraps with NetConn, as
// crypto/tls's does.
package netconn

import "net"

// Find returns the first conn that is a T, from c down through the
// wrappers that expose NetConn.
func Find[T any](c net.Conn) (T, bool) {
	for c != nil {
		if t, ok := c.(T); ok {
			return t, true
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	var zero T
	return zero, false
}

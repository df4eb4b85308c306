//go:build !linux

package dns

import "syscall"

// reusePortControl is nil where SO_REUSEPORT does not balance UDP between
// sockets: one socket per address.
var reusePortControl func(network, address string, c syscall.RawConn) error

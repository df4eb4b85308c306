package dns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortControl makes a socket one of a group that the kernel balances
// (Linux: by a hash of the client's address).
var reusePortControl = setReusePort(unix.SO_REUSEPORT)

// setReusePort is the socket option for the group, on a socket before
// its bind.
func setReusePort(opt int) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1)
		}); err != nil {
			return err
		}
		return serr
	}
}

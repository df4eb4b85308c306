package dns

import "golang.org/x/sys/unix"

// reusePortControl makes a socket one of a group that the kernel balances
// (Linux: by a hash of the client's address).
var reusePortControl = setReusePort(unix.SO_REUSEPORT)

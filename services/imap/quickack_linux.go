package imap

import (
	"net"
	"syscall"

	"labd/internal/netconn"
)

// quickAcker sends a pending TCP ACK immediately (TCP_QUICKACK), see
// patientConn.Read.
type quickAcker struct{ raw syscall.RawConn }

// newQuickAcker finds the TCP socket under c's wrappers; without one
// (tests over net.Pipe) now does nothing.
func newQuickAcker(c net.Conn) quickAcker {
	if sc, ok := netconn.Find[syscall.Conn](c); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			return quickAcker{raw}
		}
	}
	return quickAcker{}
}

func (q quickAcker) now() {
	if q.raw == nil {
		return
	}
	// Setting TCP_QUICKACK sends the delayed ACK if one is pending; the
	// kernel clears the flag again by itself, which is why it is set on
	// each read that needs it. An error only means a slower APPEND.
	_ = q.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

// cork holds the socket's partial segments back (TCP_CORK) until uncork,
// while a FETCH of many messages gathers its writes (gatherWrites): a
// 64 KiB write, or a message body written past the gathering, then goes
// out in full segments rather than ending in a small one each time. Uncorking sends what is
// left at once (the kernel would after 200 ms anyway). Without a TCP
// socket it does nothing.
func (q quickAcker) cork(on bool) {
	if q.raw == nil {
		return
	}
	v := 0
	if on {
		v = 1
	}
	_ = q.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	})
}

// canWait reports whether waitReadable can wait on a socket.
func (q quickAcker) canWait() bool { return q.raw != nil }

// waitReadable blocks until the client has sent something (or closed the
// connection, or the read deadline passed) without reading it: a greeted
// connection waits for its first command with no buffer and a shallow
// stack (preGreeter).
func (q quickAcker) waitReadable() error { return q.raw.Read(readable) }

// readable peeks at the socket: false only while there is nothing to read
// yet. Data, end of stream and any error are for the reader to see.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}

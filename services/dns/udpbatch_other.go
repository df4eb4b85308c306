//go:build !linux

package dns

import "net"

// Elsewhere than on Linux each worker reads and answers one packet per
// system call (udp.go).

type batchConn interface{}

type udpBatchState struct{}

type noter interface {
	Notef(format string, args ...any)
}

type udpOut struct {
	b, oob []byte
	msg    int
	sess   noter
}

func newBatchConn(*net.UDPConn) batchConn { return nil }

func (u *udpServer) batchWorker() {}

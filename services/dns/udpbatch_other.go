//go:build !linux

package dns

import "net"

// Elsewhere than on Linux each worker reads and answers one packet per
// system call (udp.go).

type batchConn interface{}

type udpBatchState struct{}

func newBatchConn(*net.UDPConn) batchConn { return nil }

func (u *udpServer) batchWorker() {}

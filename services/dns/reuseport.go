package dns

import (
	"context"
	"net"
	"runtime"

	"labd/internal/service"
)

// Each UDP listen address is served by one socket per core where the
// kernel spreads the clients over a group of sockets (SO_REUSEPORT, by a
// hash of the client's address and port): with one socket the workers of
// both cores took turns at its lock (in the kernel and in Go's poller),
// with one each they do not. Under dnsperf -c 4 this gave about 8% more
// answers for the same CPU and a quarter lower latency. Every socket is
// served by the same loop (udp.go) and records every query the same way.
//
// Whether someone else holds the port is found out first, with an
// ordinary socket (a group would otherwise quietly take in another
// process of the same user that asks for one, such as a second labd);
// then that socket is replaced by the group on the same address.

// udpSocketsPerAddr is how many sockets serve one UDP listen address.
func udpSocketsPerAddr() int {
	if reusePortControl == nil {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// listenUDPGroup binds addr with n sockets sharing it (just one if n is 1
// or the system cannot), each with a larger receive buffer; the first is
// the one to report.
func listenUDPGroup(addr string, n int) ([]net.PacketConn, error) {
	pcs, err := bindUDPGroup(addr, n)
	if err == nil {
		for _, pc := range pcs {
			growReceiveBuffer(pc)
		}
	}
	return pcs, err
}

func bindUDPGroup(addr string, n int) ([]net.PacketConn, error) {
	pc, err := service.ListenUDP("dns", addr)
	if err != nil || n <= 1 {
		return []net.PacketConn{pc}, err
	}
	local := pc.LocalAddr().String()
	pc.Close()
	lc := net.ListenConfig{Control: reusePortControl}
	var group []net.PacketConn
	for range n {
		g, err := lc.ListenPacket(context.Background(), "udp", local)
		if err != nil {
			break
		}
		group = append(group, g)
	}
	if len(group) > 0 {
		return group, nil
	}
	// The port was taken between the two binds, or the option refused:
	// one ordinary socket as before.
	pc, err = service.ListenUDP("dns", local)
	return []net.PacketConn{pc}, err
}

// udpReceiveBuffer is the receive buffer asked for each DNS socket, as
// busy DNS servers are set up (unbound's so-rcvbuf): a class that runs the same script at the same second sends
// hundreds of queries in a burst, and the system's default (208 KiB on
// Linux, about 300 small datagrams once the kernel's overhead per packet
// is counted) dropped some of them when labd was slowed (under -race, or
// a loaded host). The kernel caps it at net.core.rmem_max, then doubles
// it (a stock kernel's cap still gives twice the default); memory is only
// used while queries wait.
const udpReceiveBuffer = 1 << 20

// growReceiveBuffer asks for udpReceiveBuffer; a refusal leaves the
// system's default, which works, only with less room for bursts.
func growReceiveBuffer(pc net.PacketConn) {
	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(udpReceiveBuffer)
	}
}

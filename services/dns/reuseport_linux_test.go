package dns

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestUDPReceiveBuffer: every socket of a DNS address, alone or in a
// group, asks for udpReceiveBuffer, which Linux caps at net.core.rmem_max
// and then doubles for its own accounting.
func TestUDPReceiveBuffer(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := 2 * min(udpReceiveBuffer, rmemMax)
	for _, n := range []int{1, 3} {
		group, err := listenUDPGroup("127.0.0.1:0", n)
		if err != nil {
			t.Fatal(err)
		}
		for _, pc := range group {
			raw, err := pc.(*net.UDPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var gerr error
			if err := raw.Control(func(fd uintptr) {
				got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
			}); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			if got != want {
				t.Errorf("group of %d: receive buffer %d bytes, want %d (rmem_max %d)", n, got, want, rmemMax)
			}
			pc.Close()
		}
	}
}

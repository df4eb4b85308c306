package dns

import (
	"net"
	"testing"

	"labd/internal/service"
)

// TestUDPGroup: where the system balances a group of sockets, an address
// gets n sockets on the same address (IPv4 and IPv6), and the port stays
// taken for an ordinary bind (a second labd on the same port fails as
// before).
func TestUDPGroup(t *testing.T) {
	want := 3
	if reusePortControl == nil {
		want = 1
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		group, err := listenUDPGroup(addr, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(group) != want {
			t.Errorf("%s: %d sockets, want %d", addr, len(group), want)
		}
		local := group[0].LocalAddr().String()
		for _, pc := range group {
			if pc.LocalAddr().String() != local {
				t.Errorf("%s: sockets on %s and %s", addr, local, pc.LocalAddr())
			}
		}
		if pc, err := service.ListenUDP("dns", local); err == nil {
			pc.Close()
			t.Errorf("%s: another socket could bind %s", addr, local)
		}
		for _, pc := range group {
			pc.Close()
		}
		if pc, err := net.ListenPacket("udp", local); err != nil {
			t.Errorf("%s: still taken after closing the group: %v", local, err)
		} else {
			pc.Close()
		}
	}
}

package dns

import (
	"net/netip"
	"testing"
)

func TestLimiterMemoryBounded(t *testing.T) {
	l := newLimiter(1, 2)
	for i := range 100000 {
		l.check(netipFrom(uint32(i)), 0)
	}
	// The table is fixed: nothing grew. A new client still gets its burst,
	// then is limited.
	a := netipFrom(0xfffffff0)
	if v := l.check(a, 0); v != allow {
		t.Errorf("new client: %v", v)
	}
	if v := l.check(a, 0); v == allow {
		t.Errorf("second response within the same instant at 1/s: allowed")
	}
	// IPv6 clients of one /56 share a bucket.
	b1, b2 := netip.MustParseAddr("2001:db8:0:1::1"), netip.MustParseAddr("2001:db8:0:2::2")
	if l.check(b1, 0) != allow || l.check(b2, 0) == allow {
		t.Errorf("one /56 should share one bucket")
	}
}

func netipFrom(i uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
}

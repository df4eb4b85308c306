package dns

import (
	"bytes"
	"strconv"
	"testing"
)

// TestPackedCacheBounded: the packed answers stay under their bounds
// (entries and bytes) whatever is asked, and are found again by key and
// RA bit.
func TestPackedCacheBounded(t *testing.T) {
	var c packedCache
	big := &packedAnswer{wire: bytes.Repeat([]byte{1}, 4000), text: []byte("NOERROR")}
	for i := range 3 * packedMaxBytes / 4000 {
		key := []byte("key " + strconv.Itoa(i))
		c.put(i%2 == 0, key, i, &packedQuery{period: 64}, big)
		if c.bytes > packedMaxBytes || c.n > packedMax {
			t.Fatalf("after %d answers: %d entries, %d bytes", i+1, c.n, c.bytes)
		}
	}
	c.put(true, []byte("k"), 3, &packedQuery{period: 2}, big)
	q := c.get(true, []byte("k"))
	if q == nil || q.variants[1].Load() != big || q.variants[0].Load() != nil {
		t.Fatalf("lookup: %+v", q)
	}
	if c.get(false, []byte("k")) != nil {
		t.Error("an answer for a client allowed recursion served to one that is not")
	}
	c.put(true, []byte("k"), 0, &packedQuery{period: packedMaxPeriod + 1}, big)
	if c.get(true, []byte("k")).variants[0].Load() != nil {
		t.Error("an answer rotating through too many variants was kept")
	}
	if c.put(true, bytes.Repeat([]byte("x"), packedMaxKey+1), 0, &packedQuery{period: 1}, big); c.get(true, bytes.Repeat([]byte("x"), packedMaxKey+1)) != nil {
		t.Error("a long query was kept")
	}
}

package dns

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// verdict is what the rate limiter says about one response.
type verdict int

const (
	allow verdict = iota
	slip          // send an empty truncated answer instead
	drop          // send nothing
)

const (
	rlShards = 16
	rlSlots  = 256 // per shard: 4096 clients tracked at once
)

// limiter is response rate limiting per client (/32 for IPv4, /56 for
// IPv6): a token bucket per client refilled at rate tokens/s, holding one
// second's worth. Its memory is fixed: clients hash into a fixed table and
// a newcomer evicts whoever held its slot (it starts with a full bucket,
// as would a forgotten client).
type limiter struct {
	rate   float64
	burst  float64
	slip   uint32
	seed   maphash.Seed
	shards [rlShards]rlShard
}

type rlShard struct {
	mu    sync.Mutex
	slots [rlSlots]rlSlot
}

type rlSlot struct {
	key    netip.Addr
	tokens float64
	last   int64 // unix nanoseconds
	over   uint32
}

func newLimiter(rate, slipEvery int) *limiter {
	return &limiter{rate: float64(rate), burst: float64(rate), slip: uint32(slipEvery), seed: maphash.MakeSeed()}
}

func (l *limiter) check(a netip.Addr, now int64) verdict {
	key := a
	if a.Is6() {
		key = netip.PrefixFrom(a, 56).Masked().Addr()
	}
	h := maphash.Comparable(l.seed, key)
	sh := &l.shards[h%rlShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl := &sh.slots[(h/rlShards)%rlSlots]
	if sl.key != key {
		*sl = rlSlot{key: key, tokens: l.burst, last: now}
	}
	if elapsed := now - sl.last; elapsed > 0 {
		sl.tokens = min(l.burst, sl.tokens+float64(elapsed)*l.rate/1e9)
		sl.last = now
	}
	if sl.tokens >= 1 {
		sl.tokens--
		sl.over = 0
		return allow
	}
	sl.over++
	if l.slip > 0 && sl.over%l.slip == 0 {
		return slip
	}
	return drop
}

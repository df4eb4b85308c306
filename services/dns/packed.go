package dns

import (
	"runtime/debug"
	"sync"
	"sync/atomic"

	"labd/internal/sessions"
)

// Authoritative answers over UDP are kept packed, keyed by the query's
// bytes after its ID (flags, counts, question, OPT): a query whose bytes
// equal, but for the ID, those of one answered before parses to the same
// message, so it gets the same answer with its own ID, without unpacking,
// answering and packing again. That was about a third of labd's own CPU
// per query under dnsperf. The cache belongs to a zone set, so a reload,
// a user change or a zone transfer (each a new zone set) starts it empty.
//
// What may differ between two such queries is handled: the RA bit (the
// client may or may not be allowed recursion: two maps), the rotation of
// RRsets (one packed variant per rotation step), rate limiting (checked
// first, on every query), faults (none may be on) and the transcript (the
// session is recorded as on the slow path, query text with its own ID).
// Anything else, or a miss, takes the slow path, which fills the cache.

const (
	// packedMax bounds the entries of one zone set's cache; when full it
	// starts again empty (a student looping over random names pushes
	// nothing else out for long).
	packedMax = 10000
	// packedMaxKey: queries longer than this are not cached.
	packedMaxKey = 512
	// packedMaxPeriod: answers whose RRsets rotate through more
	// variants than this are not cached.
	packedMaxPeriod = 64
	// packedMaxBytes bounds the answers' bytes too: a student asking for
	// a big rotating RRset in ever other letter cases would otherwise
	// fill hundreds of megabytes.
	packedMaxBytes = 16 << 20
)

// packedCache is one zone set's packed answers.
type packedCache struct {
	mu sync.RWMutex
	// byRA: [0] for clients without recursion, [1] with.
	byRA  [2]map[string]*packedQuery
	n     int
	bytes int // of the keys and the answers' wire and text
}

// packedQuery is what is known of a query's bytes: how it is recorded and
// its answers, one per rotation step.
type packedQuery struct {
	qlen     int64  // the query's length as the slow path counts it
	textHead []byte // transcript line up to " id="
	textTail []byte // the rest after the ID (" rd edns=1232")
	period   int
	variants []atomic.Pointer[packedAnswer]
}

// packedAnswer is one answer and how it is recorded: the session's
// attributes (shared by every session of this answer, see
// sessions.Exchange), its transcript text and result.
type packedAnswer struct {
	wire   []byte // the ID is the first query's
	text   []byte
	attrs  map[string]string
	result string // "noerror"
}

func (c *packedCache) get(ra bool, key []byte) *packedQuery {
	if len(key) > packedMaxKey {
		return nil
	}
	c.mu.RLock()
	q := c.byRA[b2i(ra)][string(key)]
	c.mu.RUnlock()
	return q
}

// put records answer a for the query key answered with rotation rot; q
// describes the query the first time.
func (c *packedCache) put(ra bool, key []byte, rot int, q *packedQuery, a *packedAnswer) {
	if len(key) > packedMaxKey || q.period < 1 || q.period > packedMaxPeriod {
		return
	}
	i := b2i(ra)
	size := len(key) + len(a.wire) + len(a.text)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= packedMax || c.bytes+size > packedMaxBytes || c.byRA[i] == nil {
		c.byRA = [2]map[string]*packedQuery{{}, {}}
		c.n, c.bytes = 0, 0
	}
	have := c.byRA[i][string(key)]
	if have == nil || have.period != q.period {
		q.variants = make([]atomic.Pointer[packedAnswer], q.period)
		c.byRA[i][string(key)] = q
		c.n++
		have = q
	}
	if have.variants[rot%have.period].Swap(a) == nil {
		c.bytes += size
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lcm of two positive periods.
func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// noVerdict: the rate limiter was not asked yet for this query.
const noVerdict verdict = -1

// serveCached answers a UDP query from the packed answers if it can.
// done says it did; otherwise v is the rate limiter's verdict if it was
// asked (noVerdict if not), for the slow path to honour without asking
// again, and rot the rotation step drawn for the query (0 if none).
func (s *Service) serveCached(w *udpWriter, wire []byte) (done bool, v verdict, rot int) {
	v = noVerdict
	if s.deps.Faults.Any() {
		return false, v, 0
	}
	client := w.raddr.Addr().Unmap()
	ra := len(s.cfg.DNS.Forwarders) > 0 && contains(s.allowRecursion, client)
	zs := s.zones.Load()
	q := zs.packed.get(ra, wire[2:])
	if q == nil {
		return false, v, 0
	}
	if s.limiter != nil && !contains(s.rateExempt, client) {
		if v = s.limiter.check(client, s.now().UnixNano()); v != allow {
			return false, v, 0
		}
	}
	rot = int(s.rot.Add(1))
	a := q.variants[rot%q.period].Load()
	if a == nil {
		return false, v, rot
	}
	local, remote := w.addrStrings()
	defer s.recoverPacked(w)
	id := uint16(wire[0])<<8 | uint16(wire[1])
	// One allocation for what the transcript keeps of both datagrams
	// and the query's line.
	kept := make([]byte, 0, len(wire)+len(a.wire)+len(q.textHead)+5+len(q.textTail))
	kept = append(kept, wire...)
	kept = append(kept, a.wire...)
	qwire, out := kept[:len(wire):len(wire)], kept[len(wire):len(kept):len(kept)]
	out[0], out[1] = wire[0], wire[1]
	qtext := appendQueryText(kept[len(kept):], q.textHead, q.textTail, id)
	// The session is complete before the answer leaves (see send).
	sess := s.deps.Sessions.RecordExchange(&sessions.Exchange{
		Proto: "dns", Transport: "udp", Local: local, Remote: remote,
		Attrs: a.attrs,
		Query: qtext, QueryWire: qwire,
		Answer: a.text, AnswerWire: out,
		BytesIn: q.qlen, BytesOut: int64(len(out)),
		Result: a.result,
	})
	w.sendPacked(out, sess)
	return true, v, rot
}

// mayBlock says whether answering a query may wait: for a forwarder, or
// for a delay fault (any fault, to keep it cheap).
func (s *Service) mayBlock() bool {
	return s.deps.Faults.Any() || (len(s.cfg.DNS.Forwarders) > 0 && len(s.allowRecursion) > 0)
}

// recoverPacked is service.Recover for a packed answer, without building
// its arguments (the remote address as an interface) for every query.
func (s *Service) recoverPacked(w *udpWriter) {
	if r := recover(); r != nil {
		s.log.Error("session handler panicked; the session is closed, labd goes on",
			"service", "dns", "panic", r, "stack", string(debug.Stack()), "remote", w.rstr)
	}
}

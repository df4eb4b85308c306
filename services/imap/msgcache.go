package imap

import "sync"

// msgKey names a message for good: mailbox IDs and UIDs are never reused
// (SQLite AUTOINCREMENT and PostgreSQL identity columns for mailboxes, a
// mailbox's uidnext for UIDs, on every host sharing the store), and a
// stored message never changes, so what is cached under a key stays true
// for as long as the message exists.
type msgKey struct {
	box int64
	uid uint32
}

// msgCache keeps values per message up to a memory budget, evicting the
// oldest first. Opening a folder asks for the same messages each time, so
// even this simple policy keeps a class's folders warm. It holds the
// parsed messages (parseCache) and the whole messages (bodyCache).
type msgCache[V any] struct {
	cost  func(V) int
	mu    sync.Mutex
	m     map[msgKey]V
	order []msgKey // insertion order; order[head:] are live or stale keys
	head  int
	used  int
	max   int
	// maxEntry bounds one entry: a large attachment would otherwise push
	// out everything else.
	maxEntry int
}

func newMsgCache[V any](max, maxEntry int, cost func(V) int) *msgCache[V] {
	return &msgCache[V]{m: map[msgKey]V{}, max: max, maxEntry: min(max, maxEntry), cost: cost}
}

func (c *msgCache[V]) get(k msgKey) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// has is get without the value.
func (c *msgCache[V]) has(k msgKey) bool {
	_, ok := c.get(k)
	return ok
}

func (c *msgCache[V]) put(k msgKey, v V) {
	cost := c.cost(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok || cost > c.maxEntry {
		return
	}
	c.m[k] = v
	c.order = append(c.order, k)
	c.used += cost
	for c.used > c.max && c.head < len(c.order) {
		old := c.order[c.head]
		c.head++
		if e, ok := c.m[old]; ok {
			c.used -= c.cost(e)
			delete(c.m, old)
		}
	}
	if c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	if live := len(c.order) - c.head; live > 2*len(c.m)+1024 {
		// Mostly keys of dropped messages: keep only the live ones.
		keep := c.order[:0]
		for _, k := range c.order[c.head:] {
			if _, ok := c.m[k]; ok {
				keep = append(keep, k)
			}
		}
		c.order, c.head = keep, 0
	}
}

// drop forgets a message (expunged).
func (c *msgCache[V]) drop(k msgKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.used -= c.cost(e)
		delete(c.m, k)
	}
}

// dropBox forgets the messages of a deleted mailbox (its ID is never
// reused: this only gives the memory back sooner).
func (c *msgCache[V]) dropBox(box int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if k.box == box {
			c.used -= c.cost(e)
			delete(c.m, k)
		}
	}
}

// parseCache holds parsed messages.
type parseCache = msgCache[*parsed]

// parseCacheBytes bounds the parse cache: about 20,000 typical messages.
const parseCacheBytes = 32 << 20

func newParseCache(max int) *parseCache {
	return newMsgCache(max, max, (*parsed).cost)
}

// bodyCache holds whole messages as stored, so that a FETCH of bodies
// (BODY[], BODY[TEXT], parts) and the first parse of a message skip the
// database: filled by APPEND (a client often fetches what it just stored,
// and a mail client's offline sync fetches the new messages) and by every
// read of a message.
type bodyCache = msgCache[[]byte]

// bodyEntryOverhead is what an entry costs beside its bytes (map slot,
// key, slice header).
const bodyEntryOverhead = 64

func newBodyCache(max int) *bodyCache {
	// One message may take an eighth of the budget at most. An entry
	// holds its whole array (APPEND's comes from io.ReadAll, which grows
	// it past the message), so its capacity is what it costs.
	return newMsgCache(max, max/8, func(b []byte) int { return cap(b) + bodyEntryOverhead })
}

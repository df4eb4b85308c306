package imap

import (
	"context"
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"labd/internal/store"
)

// boxes holds one box per selected store mailbox, shared by every session
// that selects it and refcounted.
type boxes struct {
	st store.Store
	mu sync.Mutex
	m  map[int64]*box
}

// box is the live view of one store mailbox: its UIDs in order (message
// sequence numbers are positions in it) and the tracker that queues every
// committed change, from any protocol, for the sessions that selected it.
type box struct {
	id    int64
	refs  int
	ready chan struct{}
	err   error

	mu      sync.Mutex
	loading bool
	pending []store.Event
	// meta is the box's messages in UID order (message sequence numbers
	// follow it) with their metadata as the committed events left it:
	// what SELECT and a FETCH of flags and sizes would read from the
	// store, without reading it. An internal date is zero for messages
	// added since the box was loaded (events do not carry it).
	meta    []store.Message
	tracker *imapserver.MailboxTracker
}

func newBoxes(st store.Store) *boxes { return &boxes{st: st, m: map[int64]*box{}} }

// acquire returns the box of mailbox id, loading it from the store on first
// use. Events committed while loading are buffered and applied after, so
// that nothing is lost or applied twice (UIDs only grow).
func (bs *boxes) acquire(ctx context.Context, id int64) (*box, error) {
	bs.mu.Lock()
	b := bs.m[id]
	if b != nil {
		b.refs++
		bs.mu.Unlock()
		<-b.ready
		if b.err != nil {
			bs.release(b)
			return nil, b.err
		}
		return b, nil
	}
	b = &box{id: id, refs: 1, ready: make(chan struct{}), loading: true}
	bs.m[id] = b
	bs.mu.Unlock()

	msgs, err := bs.st.Messages(ctx, id)
	b.mu.Lock()
	if err != nil {
		b.err = err
		b.loading = false
		b.mu.Unlock()
		close(b.ready)
		bs.release(b)
		return nil, err
	}
	b.meta = msgs
	b.tracker = imapserver.NewMailboxTracker(uint32(len(b.meta)))
	for _, ev := range b.pending {
		b.apply(ev)
	}
	b.pending = nil
	b.loading = false
	b.mu.Unlock()
	close(b.ready)
	return b, nil
}

func (bs *boxes) release(b *box) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b.refs--
	if b.refs == 0 && bs.m[b.id] == b {
		delete(bs.m, b.id)
	}
}

// onEvent is the store subscriber: called in commit order, one at a time;
// it never blocks for long and never writes to the store.
func (bs *boxes) onEvent(ev store.Event) {
	switch ev.Kind {
	case store.MessageAdded, store.MessageExpunged, store.FlagsChanged:
	case store.MailboxDeleted:
		// Sessions still holding the old view keep it; the next SELECT of
		// a mailbox with this ID must load afresh.
		bs.mu.Lock()
		delete(bs.m, ev.MailboxID)
		bs.mu.Unlock()
		return
	default:
		return
	}
	bs.mu.Lock()
	b := bs.m[ev.MailboxID]
	bs.mu.Unlock()
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loading {
		b.pending = append(b.pending, ev)
		return
	}
	if b.err == nil {
		b.apply(ev)
	}
}

func (b *box) index(uid uint32) (int, bool) {
	i := sort.Search(len(b.meta), func(i int) bool { return b.meta[i].UID >= uid })
	return i, i < len(b.meta) && b.meta[i].UID == uid
}

// apply updates meta and queues the change; b.mu is held.
func (b *box) apply(ev store.Event) {
	switch ev.Kind {
	case store.MessageAdded:
		if n := len(b.meta); n > 0 && ev.UID <= b.meta[n-1].UID {
			return // already in the snapshot
		}
		b.meta = append(b.meta, store.Message{UID: ev.UID, Flags: ev.Flags, Size: ev.Size})
		b.tracker.QueueNumMessages(uint32(len(b.meta)))
	case store.MessageExpunged:
		i, ok := b.index(ev.UID)
		if !ok {
			return
		}
		b.meta = append(b.meta[:i], b.meta[i+1:]...)
		b.tracker.QueueExpunge(uint32(i + 1))
	case store.FlagsChanged:
		i, ok := b.index(ev.UID)
		if !ok {
			return
		}
		b.meta[i].Flags = ev.Flags
		src, _ := ev.Origin.(*imapserver.SessionTracker)
		b.tracker.QueueMessageFlags(uint32(i+1), imap.UID(ev.UID), toFlags(ev.Flags), src)
	}
}

// metaOf returns the metadata of the messages of ts still in the box (see
// box.meta). ok is false when withDate asks for an internal date the box
// does not know: the caller then reads the store.
func (b *box) metaOf(ts []target, withDate bool) (_ map[uint32]store.Message, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[uint32]store.Message, len(ts))
	for _, t := range ts {
		i, ok := b.index(t.uid)
		if !ok {
			continue // expunged meanwhile
		}
		m := b.meta[i]
		if withDate && m.InternalDate.IsZero() {
			return nil, false
		}
		out[t.uid] = m
	}
	return out, true
}

// Package sessions is labd's session registry: every accepted connection and
// every UDP exchange, with its 4-tuple, user, byte counts and a bounded
// transcript of what each side said. It is the server-side twin of
// Wireshark's "Follow TCP stream": `labd sessions`, the lab shell's ss and
// the instructor's dashboard all read it.
//
// Recording is part of the listener plumbing (Listen, Conn), so services get
// it by accepting from a wrapped listener rather than by calling it.
package sessions

import (
	"labd/internal/faults"

	"fmt"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Direction says who sent a transcript entry.
type Direction uint8

const (
	// FromClient is data the client sent to labd.
	FromClient Direction = iota
	// FromServer is data labd sent to the client.
	FromServer
	// Note is an annotation by labd itself (TLS started, user logged in...).
	Note
)

func (d Direction) String() string {
	switch d {
	case FromClient:
		return "C"
	case FromServer:
		return "S"
	default:
		return "*"
	}
}

// Entry is one chunk of a transcript.
type Entry struct {
	Time time.Time `json:"time"`
	Dir  Direction `json:"dir"`
	// Data is what was said; nil for an encrypted chunk, whose size is Len.
	Data []byte `json:"data"`
	Len  int    `json:"len"`
	// TLS marks data that travelled inside TLS: either an encrypted chunk
	// (Data nil), or plaintext recorded above the TLS layer.
	TLS bool `json:"tls,omitempty"`
	// Wire is what crossed the network when Data is not that: the
	// ciphertext of an encrypted chunk, or the datagram that Data renders
	// as text (DNS, TFTP). The pcapng export is built from it.
	Wire []byte `json:"wire,omitempty"`
	// Local is labd's address for this chunk when it is not the session's
	// (a TFTP request reaches port 69, the transfer uses another port).
	Local string `json:"local,omitempty"`
}

// Info is a snapshot of one session's metadata.
type Info struct {
	ID        uint64            `json:"id"`
	Proto     string            `json:"proto"`
	Transport string            `json:"transport"`
	Local     string            `json:"local"`
	Remote    string            `json:"remote"`
	User      string            `json:"user,omitempty"`
	Start     time.Time         `json:"start"`
	End       time.Time         `json:"end,omitzero"`
	BytesIn   int64             `json:"bytes_in"`
	BytesOut  int64             `json:"bytes_out"`
	Open      bool              `json:"open"`
	TLS       bool              `json:"tls,omitempty"`
	Result    string            `json:"result,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
	// Rendered says Data of the transcript is a text rendering (DNS,
	// TFTP): only the entries' Wire bytes crossed the network.
	Rendered bool `json:"rendered,omitempty"`
	// Node is the host's server.node when the sessions of several labd
	// hosts are listed together (docs/scale-out.md); Run is set for a
	// session read from the shared session log (internal/sessionlog):
	// which run of that host's labd (IDs restart with each run).
	Node string `json:"node,omitempty"`
	Run  int64  `json:"run,omitempty"`
}

// Event tells subscribers that a session opened, changed or closed.
type Event struct {
	Kind string `json:"kind"` // "open", "update", "close"
	Info Info   `json:"info"`
}

// Options bounds the registry.
type Options struct {
	History         int // finished sessions kept, per protocol
	TranscriptBytes int // per session
	TotalBytes      int // all transcripts together
	// KeyLog keeps each TLS session's secrets (see KeyLogWriter).
	KeyLog bool
}

// Registry holds live and recently finished sessions.
type Registry struct {
	opts   Options
	nextID atomic.Uint64
	// total counts transcript bytes held by all sessions.
	total atomic.Int64

	mu   sync.Mutex
	live map[uint64]*Session
	// protos holds, per protocol, the finished sessions in order of
	// closing and today's count: a student looping dig must not push the
	// SSH and SMTP sessions out of the instructor's view.
	protos map[string]*protoSessions
	// recent finds a finished session by its ID (slot ID mod
	// recentSlots) unless a later one took the slot; see Get. A map was
	// an insert and a delete for every DNS query.
	recent   []*Session
	finished int // sessions in the protos' histories
	// [dayStart, dayEnd) is the local day that today's counts are for:
	// two comparisons per session instead of working out the date of
	// each.
	dayStart, dayEnd time.Time
	subs             map[chan Event]struct{}
	// observers see every event (Observe).
	observers map[int]func(Event)
	nextObs   int
	// faults are the teacher's faults (nil: none); see SetFaults.
	faults *faults.Set

	// randoms finds the session of a TLS client random, for the key log.
	randMu  sync.Mutex
	randoms map[[32]byte]*Session
}

// New returns an empty registry.
func New(opts Options) *Registry {
	if opts.History <= 0 {
		opts.History = 1000
	}
	if opts.TranscriptBytes <= 0 {
		opts.TranscriptBytes = 64 << 10
	}
	if opts.TotalBytes <= 0 {
		opts.TotalBytes = 64 << 20
	}
	return &Registry{
		opts:   opts,
		live:   map[uint64]*Session{},
		recent: make([]*Session, recentSlots),
		protos: map[string]*protoSessions{},
		subs:   map[chan Event]struct{}{},
	}
}

// Open registers a new session. transport is "tcp" or "udp"; local and
// remote are address:port strings.
func (r *Registry) Open(proto, transport, local, remote string) *Session {
	s := r.newSession(proto, transport, local, remote)
	r.register(s)
	return s
}

func (r *Registry) newSession(proto, transport, local, remote string) *Session {
	s := &Session{reg: r}
	s.info = Info{
		ID:        r.nextID.Add(1),
		Proto:     proto,
		Transport: transport,
		Local:     local,
		Remote:    remote,
		Start:     time.Now(),
		Open:      true,
	}
	return s
}

// OpenQuick is Open for an exchange that is usually over at once, a DNS
// query over UDP: the session enters the registry only when it closes, in
// one step that publishes its "open" and "close" events together, instead
// of taking the registry's lock four times and copying its metadata twice
// for each of tens of thousands of queries a second. Until then it is
// invisible to List, Live and Get; Live makes it visible at once, for an
// exchange that turns out to wait (a forwarded query, a delay fault).
func (r *Registry) OpenQuick(proto, transport, local, remote string) *Session {
	s := r.newSession(proto, transport, local, remote)
	s.quick = true
	return s
}

// Exchange is a request and its answer, recorded at once with
// RecordExchange.
type Exchange struct {
	Proto, Transport, Local, Remote string
	// Attrs are the session's attributes. The registry keeps the map
	// itself, which nobody may change afterwards (it may be shared by many
	// sessions: the session copies it before a change of its own).
	Attrs map[string]string
	// Query and Answer are the transcript's texts, QueryWire and
	// AnswerWire the datagrams as sent (see Datagram); all four are kept,
	// not copied, and nobody may change them afterwards.
	Query, QueryWire, Answer, AnswerWire []byte
	BytesIn, BytesOut                    int64
	Result                               string
}

// exchangeSession is a Session with room for the two entries of an
// exchange: one allocation per DNS query instead of two.
type exchangeSession struct {
	Session
	two [2]Entry
}

// RecordExchange records a finished exchange (a DNS query answered at
// once) in one step: what OpenQuick, SetAttr, two Datagrams, AddBytes and
// Close record, with one registry lock and no copies. The session it
// returns is closed; a note may still be added (a failed write).
func (r *Registry) RecordExchange(x *Exchange) *Session {
	xs := new(exchangeSession)
	s := &xs.Session
	now := time.Now()
	// Field by field into the new object: a composite literal copied in
	// (Info, two Entries) was a bulk copy with write barriers while the GC
	// ran, for each of 200k queries a second.
	s.reg = r
	in := &s.info
	in.ID = r.nextID.Add(1)
	in.Proto, in.Transport, in.Local, in.Remote = x.Proto, x.Transport, x.Local, x.Remote
	in.Start, in.End = now, now
	in.Result, in.Attrs, in.Rendered = x.Result, x.Attrs, true
	s.sharedAttrs = true
	s.closed = true
	s.bytesIn.Store(x.BytesIn)
	s.bytesOut.Store(x.BytesOut)
	cost := len(x.Query) + len(x.QueryWire) + len(x.Answer) + len(x.AnswerWire) + 2*entryCost
	if len(x.Query) > 0 && len(x.Answer) > 0 && cost <= r.opts.TranscriptBytes {
		// What add would do for each, with the session not yet shared:
		// both fit the bound.
		q, a := &xs.two[0], &xs.two[1]
		q.Time, q.Dir, q.Data, q.Len, q.Wire = now, FromClient, x.Query, len(x.QueryWire), x.QueryWire
		a.Time, a.Dir, a.Data, a.Len, a.Wire = now, FromServer, x.Answer, len(x.AnswerWire), x.AnswerWire
		s.entries = xs.two[:]
		s.held = cost
		r.total.Add(int64(cost))
	} else {
		s.entries = xs.two[:0:2]
		s.add(Entry{Time: now, Dir: FromClient, Data: x.Query, Len: len(x.QueryWire), Wire: x.QueryWire})
		s.add(Entry{Time: now, Dir: FromServer, Data: x.Answer, Len: len(x.AnswerWire), Wire: x.AnswerWire})
	}
	r.finish(s, true)
	return s
}

// Live registers a session opened with OpenQuick now rather than when it
// closes (no effect on any other session).
func (s *Session) Live() {
	s.mu.Lock()
	quick := s.quick && !s.closed
	s.quick = false
	s.mu.Unlock()
	if quick {
		s.reg.register(s)
	}
}

func (r *Registry) register(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[s.info.ID] = s
	r.count(s, r.proto(s.info.Proto))
	// Published under the same lock: one lock of the registry per
	// connection opened instead of two.
	r.publishLocked("open", s)
}

// recentSlots is the size of the registry's index of finished sessions
// by ID, a power of two above the history of the busiest protocol, so
// that Get just after a session closed (the exercise tracker's) finds it
// there.
const recentSlots = 1 << 13

// protoSessions is one protocol's finished sessions, in order of closing
// (a ring of at most Options.History, oldest at head once full, so that
// the history neither grows nor copies), and its count of today's
// sessions.
type protoSessions struct {
	ring  []*Session
	ids   []uint64 // the ring's IDs, for Get to look through
	head  int
	today int
}

// proto returns what the registry keeps of one protocol; r.mu is held.
func (r *Registry) proto(name string) *protoSessions {
	p := r.protos[name]
	if p == nil {
		p = &protoSessions{}
		r.protos[name] = p
	}
	return p
}

// count counts s in today's sessions of its protocol p; r.mu is held.
func (r *Registry) count(s *Session, p *protoSessions) {
	if t := s.info.Start; t.Before(r.dayStart) || !t.Before(r.dayEnd) {
		y, m, d := t.Date()
		r.dayStart = time.Date(y, m, d, 0, 0, 0, 0, t.Location())
		r.dayEnd = r.dayStart.AddDate(0, 0, 1)
		for _, p := range r.protos {
			p.today = 0
		}
	}
	p.today++
}

// Subscribe returns a channel of events and a function that ends the
// subscription. A slow subscriber loses events rather than slowing labd.
func (r *Registry) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
		r.mu.Unlock()
	}
}

// Observe calls fn for every event, synchronously and without loss, until
// cancel is called: counters (metrics) need every close, where Subscribe
// may drop. fn must be quick and must not call back into the registry.
func (r *Registry) Observe(fn func(Event)) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextObs
	r.nextObs++
	if r.observers == nil {
		r.observers = map[int]func(Event){}
	}
	r.observers[id] = fn
	return func() {
		r.mu.Lock()
		delete(r.observers, id)
		r.mu.Unlock()
	}
}

// TranscriptBytes is what all kept transcripts hold together.
func (r *Registry) TranscriptBytes() int64 { return r.total.Load() }

func (r *Registry) publish(kind string, s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishLocked(kind, s)
}

// publishLocked is publish with r.mu held.
func (r *Registry) publishLocked(kind string, s *Session) {
	if r.observed() {
		r.deliver(Event{Kind: kind, Info: s.Info()})
	}
}

// observed says whether anyone takes events (an event's metadata is
// copied only then); r.mu is held.
func (r *Registry) observed() bool { return len(r.subs) > 0 || len(r.observers) > 0 }

// deliver hands ev to the observers and subscribers; r.mu is held.
func (r *Registry) deliver(ev Event) {
	for _, fn := range r.observers {
		fn(ev)
	}
	for ch := range r.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (r *Registry) finish(s *Session, quick bool) {
	r.mu.Lock()
	p := r.proto(s.info.Proto)
	if quick {
		r.count(s, p)
		r.keep(s, p)
		if r.observed() {
			// The close event's metadata, and the open event's as
			// Open would have published it: nothing recorded yet.
			closed := s.Info()
			opened := closed
			opened.Open, opened.End, opened.Result = true, time.Time{}, ""
			opened.BytesIn, opened.BytesOut, opened.Attrs = 0, 0, nil
			opened.Truncated, opened.Rendered, opened.User, opened.TLS = false, false, "", false
			r.deliver(Event{Kind: "open", Info: opened})
			r.deliver(Event{Kind: "close", Info: closed})
		}
		r.mu.Unlock()
		return
	}
	delete(r.live, s.info.ID)
	r.keep(s, p)
	r.publishLocked("close", s)
	r.mu.Unlock()
}

// keep adds the finished session s to the history of its protocol p;
// r.mu is held.
func (r *Registry) keep(s *Session, p *protoSessions) {
	id := s.info.ID
	r.recent[id%recentSlots] = s
	if len(p.ring) < r.opts.History {
		p.ring = append(p.ring, s)
		p.ids = append(p.ids, id)
		r.finished++
	} else {
		old := p.ring[p.head]
		p.ring[p.head], p.ids[p.head] = s, id
		if p.head++; p.head == len(p.ring) {
			p.head = 0
		}
		if slot := &r.recent[old.info.ID%recentSlots]; *slot == old {
			*slot = nil
		}
		r.total.Add(-int64(old.dropTranscript()))
	}
	// Over the global bound, the oldest finished transcripts go first; the
	// metadata stays.
	if r.total.Load() > int64(r.opts.TotalBytes) {
		old := r.appendFinished(make([]*Session, 0, r.finished))
		sort.Slice(old, func(i, j int) bool { return old[i].info.ID < old[j].info.ID })
		for i := 0; r.total.Load() > int64(r.opts.TotalBytes) && i < len(old); i++ {
			r.total.Add(-int64(old[i].dropTranscript()))
		}
	}
}

// List returns every live session and the finished ones still kept, oldest
// first.
func (r *Registry) List() []Info { return r.snapshot(true) }

// Live returns the live sessions only, oldest first.
func (r *Registry) Live() []Info { return r.snapshot(false) }

func (r *Registry) snapshot(withFinished bool) []Info {
	r.mu.Lock()
	all := make([]*Session, 0, len(r.live)+r.finished)
	if withFinished {
		all = r.appendFinished(all)
	}
	for _, s := range r.live {
		all = append(all, s)
	}
	r.mu.Unlock()
	out := make([]Info, len(all))
	for i, s := range all {
		out[i] = s.Info()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Today returns how many sessions each protocol had since midnight.
func (r *Registry) Today() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.protos))
	for k, p := range r.protos {
		if p.today > 0 {
			out[k] = p.today
		}
	}
	return out
}

// Get returns one session, live or finished.
func (r *Registry) Get(id uint64) (*Session, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.live[id]; ok {
		return s, true
	}
	if s := r.recent[id%recentSlots]; s != nil && s.info.ID == id {
		return s, true
	}
	// Its slot taken by a later session (one that closed long after it
	// opened, or an old one of a quiet protocol), or not kept any more.
	for _, p := range r.protos {
		for i, x := range p.ids {
			if x == id {
				return p.ring[i], true
			}
		}
	}
	return nil, false
}

// appendFinished appends every kept finished session to all; r.mu is
// held.
func (r *Registry) appendFinished(all []*Session) []*Session {
	for _, p := range r.protos {
		all = append(all, p.ring...)
	}
	return all
}

// Session is one connection or UDP exchange.
type Session struct {
	reg      *Registry
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
	tls      atomic.Bool
	// full is set once the transcript reached its bound, so that the hot
	// path of a bulk transfer is two atomic operations.
	full atomic.Bool

	mu      sync.Mutex
	info    Info
	entries []Entry
	held    int // transcript bytes held
	// keys: the TLS sessions' secrets for the key log (nil: none), apart
	// so that the many sessions without TLS (a DNS query) are smaller.
	keys *tlsKeys
	// wireOff: ciphertext no longer kept (see keepWire); read without mu
	// by the recording conn, so that bulk TLS stops copying.
	wireOff atomic.Bool
	closed  bool
	// quick: opened with OpenQuick and not registered yet (see Live).
	quick bool
	// sharedAttrs: info.Attrs may be shared with other sessions
	// (RecordExchange); SetAttr copies it first.
	sharedAttrs bool
	// conn is the recording conn of a connection's session: Kill closes
	// it, and its listener counts the connection under its user from
	// SetUser on. Set before the session is registered, then read-only.
	conn *Conn
	kill func() // ends the session (kill in the lab shell) if set; may be nil
}

// ID returns the session's registry ID.
func (s *Session) ID() uint64 { return s.info.ID }

// Started returns when the session began (Info's Start, without a copy).
func (s *Session) Started() time.Time { return s.info.Start }

// Info returns a snapshot of the metadata.
func (s *Session) Info() Info {
	s.mu.Lock()
	in := s.info
	if in.Attrs != nil {
		in.Attrs = make(map[string]string, len(s.info.Attrs))
		for k, v := range s.info.Attrs {
			in.Attrs[k] = v
		}
	}
	s.mu.Unlock()
	in.BytesIn = s.bytesIn.Load()
	in.BytesOut = s.bytesOut.Load()
	in.TLS = s.tls.Load()
	return in
}

// Transcript returns a copy of the entries recorded so far.
func (s *Session) Transcript() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// SetUser records the authenticated user.
func (s *Session) SetUser(user string) {
	s.mu.Lock()
	s.info.User = user
	s.mu.Unlock()
	s.Notef("authenticated as %s", user)
	s.reg.publish("update", s)
	if rc := s.conn; rc != nil && rc.ln != nil {
		rc.ln.login(rc, rc.ip, user)
	}
}

// SetAttr records a protocol-specific fact (DNS name and type, TFTP file,
// options negotiated...).
func (s *Session) SetAttr(key, value string) {
	s.mu.Lock()
	if s.info.Attrs == nil {
		s.info.Attrs = map[string]string{}
	} else if s.sharedAttrs {
		s.info.Attrs = maps.Clone(s.info.Attrs)
	}
	s.sharedAttrs = false
	s.info.Attrs[key] = value
	s.mu.Unlock()
}

// AddBytes counts bytes moved outside a recorded Conn (UDP, data
// connections).
func (s *Session) AddBytes(in, out int64) {
	s.bytesIn.Add(in)
	s.bytesOut.Add(out)
}

// Record adds data to the transcript. tls says the data was recorded above a
// TLS layer (plaintext of an encrypted exchange).
func (s *Session) Record(dir Direction, data []byte, tls bool) {
	if len(data) == 0 || s.full.Load() {
		return
	}
	s.add(Entry{Time: time.Now(), Dir: dir, Data: append([]byte(nil), data...), Len: len(data), TLS: tls})
}

// Datagram records one datagram (or, over TCP, one framed message): text
// is what the transcript shows, wire the bytes as sent; local, if not
// empty, is labd's address for it when it differs from the session's.
func (s *Session) Datagram(dir Direction, text, wire []byte, local string) {
	s.mu.Lock()
	s.info.Rendered = true
	if s.entries == nil && s.held >= 0 {
		// A datagram session (a DNS query, a TFTP exchange) mostly
		// holds the question and the answer: room for 8 entries cost
		// about 1 KB per query.
		s.entries = make([]Entry, 0, 2)
	}
	s.mu.Unlock()
	if s.full.Load() {
		return
	}
	e := Entry{Time: time.Now(), Dir: dir, Data: append([]byte(nil), text...), Len: len(wire), Local: local}
	if len(wire) > 0 {
		e.Wire = append([]byte(nil), wire...)
	}
	if len(e.Data) == 0 {
		e.Data = fmt.Appendf(nil, "%d bytes", len(wire))
	}
	s.add(e)
}

// Notef adds an annotation by labd to the transcript.
func (s *Session) Notef(format string, args ...any) {
	s.add(Entry{Time: time.Now(), Dir: Note, Data: fmt.Appendf(nil, format, args...)})
}

// MarkTLS notes that the rest of the connection is encrypted.
func (s *Session) MarkTLS() {
	if s.tls.CompareAndSwap(false, true) {
		s.Notef("TLS handshake: from here on the connection is encrypted")
		s.reg.publish("update", s)
	}
}

// entryCost is what an entry costs besides its data, so that entries
// without data (encrypted chunks, notes) count against the bounds too.
const entryCost = 32

// noteSlack is room beyond the bound for labd's own notes (login, TLS,
// results), so that the end of a long session still says how it ended.
const noteSlack = 4096

func (s *Session) add(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held < 0 {
		return // transcript dropped to honour the global bound
	}
	// Consecutive encrypted chunks in one direction fold into one entry.
	if e.Data == nil && e.Dir != Note && len(s.entries) > 0 {
		last := &s.entries[len(s.entries)-1]
		if last.Data == nil && last.Dir == e.Dir && last.TLS {
			last.Len += e.Len
			if e.Wire != nil && s.keepWire(len(e.Wire)) {
				last.Wire = append(last.Wire, e.Wire...)
				s.held += len(e.Wire)
				s.reg.total.Add(int64(len(e.Wire)))
			}
			return
		}
	}
	if e.Data == nil && e.Wire != nil && e.Dir != Note && !s.keepWire(len(e.Wire)+entryCost) {
		// Past the bound the ciphertext goes and its size stays, so that
		// the transcript still counts the encrypted bytes.
		e.Wire = nil
	}
	limit := s.reg.opts.TranscriptBytes
	if e.Dir == Note {
		limit += noteSlack
	}
	cost := len(e.Data) + len(e.Wire) + entryCost
	if s.held+cost > limit {
		room := limit - s.held - entryCost
		// A datagram or a ciphertext chunk is useless in part.
		if e.Dir == Note || e.Data == nil || e.Wire != nil || room <= 0 {
			if e.Dir != Note {
				s.full.Store(true)
			}
			s.info.Truncated = true
			return
		}
		e.Data = e.Data[:room]
		cost = room + entryCost
	}
	if s.entries == nil {
		// Most sessions (an HTTP request, a DNS query) hold a handful of
		// entries: one allocation instead of growing from one. A server's
		// greeting may be all a connection holds for a long time (a
		// thousand IMAP clients connected and idle): room for one (112
		// bytes), then for eight at the second entry. Otherwise two: a
		// Connection: close HTTP request holds two (request and answer),
		// and room for four was 224 bytes of garbage per connection; a
		// longer session grows by doubling.
		n := 2
		if e.Dir == FromServer {
			n = 1
		}
		s.entries = make([]Entry, 0, n)
	} else if len(s.entries) == 1 && cap(s.entries) == 1 {
		s.entries = append(make([]Entry, 0, 8), s.entries[0])
	}
	s.entries = append(s.entries, e)
	s.held += cost
	s.reg.total.Add(int64(cost))
}

// keepWire says whether n more bytes of ciphertext fit the transcript.
// Once one chunk did not, none is kept after it: the pcapng export needs
// the ciphertext as an unbroken prefix of the stream.
func (s *Session) keepWire(n int) bool {
	if s.wireOff.Load() || s.held+n > s.reg.opts.TranscriptBytes {
		if !s.wireOff.Swap(true) {
			s.info.Truncated = true
		}
		return false
	}
	return true
}

// dropTranscript frees the transcript and returns how many bytes it held.
func (s *Session) dropTranscript() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.held
	s.entries = nil
	s.held = -1
	s.info.Truncated = true
	if n < 0 {
		return 0
	}
	return n
}

// Close ends the session; result is a short outcome ("ok", "timeout", an
// error text). Closing twice is harmless.
func (s *Session) Close(result string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.info.Open = false
	s.info.End = time.Now()
	if s.info.Result == "" {
		s.info.Result = result
	}
	quick := s.quick
	s.quick = false
	s.mu.Unlock()
	s.forgetRandoms()
	s.reg.finish(s, quick)
}

// KeyLog returns the TLS secrets of the session in NSS key log format
// (nil if none were kept).
func (s *Session) KeyLog() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		return nil
	}
	return append([]byte(nil), s.keys.keylog...)
}

// tlsKeys is a session's part of the key log.
type tlsKeys struct {
	keylog  []byte     // NSS key log lines of its TLS handshakes
	randoms [][32]byte // client randoms of its TLS handshakes
}

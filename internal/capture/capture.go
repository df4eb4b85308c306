// Package capture turns labd's session recordings into a pcapng file that
// Wireshark opens: the payload each side sent, at the time it was recorded,
// inside TCP segments or UDP datagrams with the session's real addresses.
// labd records above the socket, so what TCP itself did (handshake,
// segmentation, ACKs, window, close) is rebuilt here, consistently enough
// that Wireshark's "Follow TCP stream" gives back the exact bytes.
package capture

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"labd/internal/pcapng"
	"labd/internal/sessions"
)

// Session is one recorded session to export.
type Session struct {
	Info    sessions.Info
	Entries []sessions.Entry
	// KeyLog holds the session's TLS secrets in NSS key log format.
	KeyLog []byte
}

// Of returns the export view of a registry session.
func Of(s *sessions.Session) Session {
	return Session{Info: s.Info(), Entries: s.Transcript(), KeyLog: s.KeyLog()}
}

// WithData returns the session id and, for an FTP control session, its
// data connections, oldest first; nil if id is unknown.
func WithData(reg *sessions.Registry, id uint64) []Session {
	s, ok := reg.Get(id)
	if !ok {
		return nil
	}
	out := []Session{Of(s)}
	if strings.HasPrefix(out[0].Info.Proto, "ftp") {
		want := strconv.FormatUint(id, 10)
		for _, in := range reg.List() {
			if in.Attrs["control_session"] == want {
				if d, ok := reg.Get(in.ID); ok {
					out = append(out, Of(d))
				}
			}
		}
	}
	return out
}

// Filter selects sessions for a class capture.
type Filter struct {
	User  string    // only this user's sessions ("" for all)
	Proto string    // only this protocol, with its TLS and data variants ("" for all)
	Since time.Time // only sessions open at or after this time
}

// Match says whether a session passes f.
func (f Filter) Match(in sessions.Info) bool {
	if f.User != "" && in.User != f.User {
		return false
	}
	if f.Proto != "" && in.Proto != f.Proto && !strings.HasPrefix(in.Proto, f.Proto+"-") &&
		strings.TrimSuffix(in.Proto, "s") != f.Proto {
		return false
	}
	if !f.Since.IsZero() && !in.Open && in.End.Before(f.Since) {
		return false
	}
	return true
}

// dashboardAttr marks the dashboard's own HTTP sessions (see
// internal/dashboard): they carry the admin's cookie and password, so a
// class capture, projected to the class, leaves them out.
const dashboardAttr = "dashboard"

// Select returns the registry's sessions that pass f, oldest first,
// without the dashboard's own.
func Select(reg *sessions.Registry, f Filter) []Session {
	var out []Session
	for _, in := range reg.List() {
		if !f.Match(in) || in.Attrs[dashboardAttr] != "" {
			continue
		}
		if s, ok := reg.Get(in.ID); ok {
			out = append(out, Of(s))
		}
	}
	return out
}

// maxListed bounds the session list in the comment of a class capture.
const maxListed = 50

// Header is the section comment: what the file is and what it is not.
func Header(ss []Session) string {
	var b strings.Builder
	b.WriteString("Rebuilt by labd from its session recording, not captured on the wire. " +
		"Exact: the payload bytes each side sent and the time labd recorded them, the addresses and ports. " +
		"Reconstructed: the TCP handshake, segmentation (MSS), sequence and ACK numbers, ACK timing, window and close. " +
		"TFTP DATA/ACK datagrams are rebuilt from the transfer as labd served it; a DNS query is the message as labd parsed it, packed again.")
	var ids []string
	ssh, keys, trunc := false, false, false
	for _, s := range ss {
		ids = append(ids, fmt.Sprintf("%d (%s)", s.Info.ID, s.Info.Proto))
		ssh = ssh || strings.HasPrefix(s.Info.Proto, "ssh") || s.Info.Proto == "sftp"
		keys = keys || len(s.KeyLog) > 0
		trunc = trunc || s.Info.Truncated
	}
	if keys {
		b.WriteString(" The TLS secrets of these sessions are embedded (Decryption Secrets Block): Wireshark decrypts them without any setting.")
	}
	if ssh {
		b.WriteString(" SSH cannot be decrypted: after the key exchange only ciphertext crossed the network, and that is what you see.")
	}
	if trunc {
		b.WriteString(" Some transcripts reached sessions.transcript_bytes: their later bytes are missing.")
	}
	if len(ids) > maxListed {
		ids = append(ids[:maxListed], fmt.Sprintf("and %d more", len(ids)-maxListed))
	}
	fmt.Fprintf(&b, " Sessions: %s.", strings.Join(ids, ", "))
	hinted := map[string]bool{}
	for _, s := range ss {
		if h := portHint(s.Info); h != "" && !hinted[h] {
			hinted[h] = true
			b.WriteString(" " + h)
		}
	}
	return b.String()
}

// wellKnown is the port Wireshark expects for each labd protocol, and the
// name of its dissector ("Decode As").
var wellKnown = map[string]struct {
	port      uint16
	dissector string
}{
	"smtp": {25, "smtp"}, "submission": {587, "smtp"}, "smtps": {465, "smtp"},
	"pop3": {110, "pop"}, "pop3s": {995, "pop"}, "imap": {143, "imap"}, "imaps": {993, "imap"},
	"ftp": {21, "ftp"}, "telnet": {23, "telnet"}, "ssh": {22, "ssh"},
	"http": {80, "http"}, "dns": {53, "dns"},
}

// portHint tells how to make Wireshark dissect a protocol served on a port
// it does not associate with it (the lab profile adds 10000 to each).
func portHint(in sessions.Info) string {
	wk, ok := wellKnown[in.Proto]
	ap, err := netip.ParseAddrPort(in.Local)
	if !ok || err != nil || ap.Port() == wk.port {
		return ""
	}
	layer := in.Transport
	if strings.HasSuffix(in.Proto, "s") {
		// Implicit TLS: Wireshark finds the TLS by itself, not what is inside.
		layer = "tls"
	}
	return fmt.Sprintf("%s is on port %d, not %d: if Wireshark does not show %s, use Analyze > Decode As (tshark: -d %s.port==%d,%s).",
		strings.ToUpper(in.Proto), ap.Port(), wk.port, strings.ToUpper(wk.dissector), layer, ap.Port(), wk.dissector)
}

// Write writes ss as one pcapng file, all packets in time order.
func Write(w io.Writer, ss []Session) error {
	pw, err := pcapng.NewWriter(w, "labd", Header(ss))
	if err != nil {
		return err
	}
	var keys []byte
	for _, s := range ss {
		keys = append(keys, s.KeyLog...)
	}
	if len(keys) > 0 {
		if err := pw.WriteSecrets(pcapng.SecretsTLSKeyLog, keys); err != nil {
			return err
		}
	}
	byID := make(map[string]*Session, len(ss))
	for i := range ss {
		byID[strconv.FormatUint(ss[i].Info.ID, 10)] = &ss[i]
	}
	var all []packet
	for _, s := range ss {
		var after time.Time
		if c := byID[s.Info.Attrs["control_session"]]; c != nil {
			after = passiveReply(s, *c)
		}
		all = append(all, packets(s, after)...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	for _, p := range all {
		if err := pw.WritePacket(p.t, p.data, p.comment); err != nil {
			return err
		}
	}
	return pw.Flush()
}

type packet struct {
	t       time.Time
	data    []byte
	comment string
}

// passiveReply returns, for an FTP data connection s and its control
// connection c, the time of the 227 or 229 reply that told the client
// where to connect: its reconstructed handshake must come after it, or
// Wireshark shows the SYN before the reply that announced the port.
func passiveReply(s, c Session) time.Time {
	var t time.Time
	// The reply is written before the client can connect, but its time
	// is taken around the write, which a loaded machine can delay past
	// the accept: look a little beyond the start.
	limit := s.Info.Start.Add(50 * time.Millisecond)
	for _, e := range c.Entries {
		if e.Time.After(limit) {
			break
		}
		if e.Dir == sessions.FromServer && (bytes.HasPrefix(e.Data, []byte("227 ")) || bytes.HasPrefix(e.Data, []byte("229 "))) {
			t = e.Time
		}
	}
	return t
}

// Packets returns the packets of one session in order.
func Packets(s Session) []packet { return packets(s, time.Time{}) }

// packets builds s's packets, its handshake after notBefore when set.
func packets(s Session, notBefore time.Time) []packet {
	in := s.Info
	server, err1 := netip.ParseAddrPort(in.Local)
	client, err2 := netip.ParseAddrPort(in.Remote)
	if err1 != nil || err2 != nil {
		return nil
	}
	server = concrete(server, client)
	if server.Addr().Unmap().Is4() != client.Addr().Unmap().Is4() {
		return nil
	}
	b := &builder{client: client, server: server, notBefore: notBefore}
	b.note = fmt.Sprintf("labd session %d: %s", in.ID, in.Proto)
	if in.User != "" {
		b.note += ", user " + in.User
	}
	if in.Transport == "udp" {
		b.udp(s)
	} else {
		b.tcp(s)
	}
	return b.out
}

// concrete replaces the wildcard address of a socket bound to all
// addresses (DNS over UDP reports 0.0.0.0): a loopback client talked to
// loopback; otherwise the wildcard stays, which Wireshark shows as it is.
func concrete(server, client netip.AddrPort) netip.AddrPort {
	if server.Addr().IsUnspecified() && client.Addr().IsLoopback() {
		return netip.AddrPortFrom(client.Addr(), server.Port())
	}
	return server
}

type builder struct {
	client, server netip.AddrPort
	out            []packet
	last           time.Time
	note           string // comment for the next packet
	// notBefore: the handshake comes after this (see passiveReply).
	notBefore time.Time
}

// emit appends a packet, never earlier than the one before, so that the
// session's packets stay in order when sessions are merged.
func (b *builder) emit(t time.Time, data []byte) {
	if !t.After(b.last) && !b.last.IsZero() {
		t = b.last.Add(time.Microsecond)
	}
	b.last = t
	b.out = append(b.out, packet{t: t, data: data, comment: b.note})
	b.note = ""
}

func (b *builder) addNote(e sessions.Entry) {
	if e.Dir != sessions.Note {
		return
	}
	if b.note != "" {
		b.note += "; "
	}
	b.note += "labd: " + string(e.Data)
}

func (b *builder) udp(s Session) {
	for _, e := range s.Entries {
		if e.Dir == sessions.Note {
			b.addNote(e)
			continue
		}
		if e.Wire == nil {
			continue
		}
		server := b.server
		if e.Local != "" {
			if ap, err := netip.ParseAddrPort(e.Local); err == nil {
				server = concrete(ap, b.client)
			}
		}
		src, dst := b.client, server
		if e.Dir == sessions.FromServer {
			src, dst = server, b.client
		}
		if p, err := pcapng.UDP(src, dst, e.Wire); err == nil {
			b.emit(e.Time, p)
		}
	}
}

// Reconstructed TCP parameters.
const (
	window = 65535
	// ackEvery: the receiver ACKs at least every this many full segments' worth,
	// so the sender never has more than a window in flight.
	ackEvery = 16
	// delayedACK is how long a receiver waits for data to piggyback its
	// ACK on (Linux's minimum delayed-ACK time).
	delayedACK = 40 * time.Millisecond
)

type side struct {
	addr netip.AddrPort
	next uint32 // next sequence number to send
}

func (b *builder) tcp(s Session) {
	in := s.Info
	mss := 1460
	if !b.server.Addr().Unmap().Is4() {
		mss = 1440
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %s %s", in.ID, in.Remote, in.Start)
	isn := h.Sum64()
	c := &side{addr: b.client, next: uint32(isn)}
	sv := &side{addr: b.server, next: uint32(isn >> 32)}
	seg := func(t time.Time, from, to *side, flags uint8, payload []byte, mssOpt bool) {
		sg := pcapng.Segment{Src: from.addr, Dst: to.addr, Seq: from.next, Flags: flags, Window: window, Payload: payload}
		if flags&pcapng.ACK != 0 {
			sg.Ack = to.next
		}
		if mssOpt {
			sg.MSS = uint16(mss)
		}
		p, err := pcapng.TCP(sg)
		if err != nil {
			return
		}
		b.emit(t, p)
		from.next += uint32(len(payload))
		if flags&(pcapng.SYN|pcapng.FIN) != 0 {
			from.next++
		}
	}
	// The handshake happened just before accept returned, and after what
	// announced the port; emit keeps later packets after it.
	syn := in.Start.Add(-200 * time.Microsecond)
	if !b.notBefore.IsZero() && !syn.After(b.notBefore) {
		syn = b.notBefore.Add(time.Microsecond)
	}
	seg(syn, c, sv, pcapng.SYN, nil, true)
	seg(syn.Add(100*time.Microsecond), sv, c, pcapng.SYN|pcapng.ACK, nil, true)
	seg(syn.Add(200*time.Microsecond), c, sv, pcapng.ACK, nil, false)

	payload := func(e sessions.Entry) []byte {
		if e.Dir == sessions.Note {
			return nil
		}
		if e.Wire != nil {
			return e.Wire
		}
		if in.Rendered {
			return nil
		}
		return e.Data
	}
	ents := slices.DeleteFunc(slices.Clone(s.Entries), func(e sessions.Entry) bool {
		if e.Dir == sessions.Note {
			return false
		}
		return len(payload(e)) == 0
	})
	unacked := 0 // bytes the receiver has not ACKed yet
	for i, e := range ents {
		if e.Dir == sessions.Note {
			b.addNote(e)
			continue
		}
		from, to := c, sv
		if e.Dir == sessions.FromServer {
			from, to = sv, c
		}
		data := payload(e)
		for len(data) > 0 {
			k := min(mss, len(data))
			flags := uint8(pcapng.ACK)
			if k == len(data) {
				flags |= pcapng.PSH
			}
			seg(e.Time, from, to, flags, data[:k], false)
			data = data[k:]
			if unacked += k; unacked >= ackEvery*mss && len(data) > 0 {
				seg(e.Time, to, from, pcapng.ACK, nil, false)
				unacked = 0
			}
		}
		// The receiver ACKs like a delayed-ACK stack: at once when
		// nothing follows soon, with its answer when it answers soon,
		// and after two full segments' worth when the sender goes on.
		var next *sessions.Entry
		for j := i + 1; j < len(ents); j++ {
			if ents[j].Dir != sessions.Note {
				next = &ents[j]
				break
			}
		}
		switch {
		case next == nil || next.Time.Sub(e.Time) > delayedACK:
		case next.Dir != e.Dir:
			unacked = 0
			continue // the ACK rides on the answer
		case unacked < 2*mss:
			continue
		}
		seg(e.Time.Add(50*time.Microsecond), to, from, pcapng.ACK, nil, false)
		unacked = 0
	}
	if in.Open {
		return
	}
	end := in.End
	seg(end, sv, c, pcapng.FIN|pcapng.ACK, nil, false)
	seg(end.Add(50*time.Microsecond), c, sv, pcapng.FIN|pcapng.ACK, nil, false)
	seg(end.Add(100*time.Microsecond), sv, c, pcapng.ACK, nil, false)
}

// ParseFilter reads a filter from query parameters: user, protocol, and
// since (a duration back from now, "10m").
func ParseFilter(q url.Values, now time.Time) (Filter, error) {
	f := Filter{User: q.Get("user"), Proto: q.Get("protocol")}
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return f, fmt.Errorf("since=%q: want a duration such as 10m or 2h", v)
		}
		f.Since = now.Add(-d)
	}
	return f, nil
}

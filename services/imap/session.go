package imap

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"labd/internal/mail"
	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
)

const delim = '/'

type session struct {
	s     *Service
	conn  *imapserver.Conn
	rec   *sessions.Session
	log   *slog.Logger
	user  string
	fails int
	// selMu is held by Idle for as long as it runs, and taken to change
	// sel: go-imap runs Idle in a goroutine of its own and, when the
	// client's line after IDLE is not DONE or the connection ends, goes
	// on (to the next command, or to Close) without waiting for it
	// (imapserver/idle.go, handleIdle).
	selMu sync.Mutex
	sel   *view
	// loginDone spares the login command itself from the bye fault.
	loginDone bool
	front     *frontConn // nil on TLS connections
}

// view is the selected mailbox of one session.
type view struct {
	box      *box
	id       int64
	name     string
	validity uint32
	readOnly bool
	tracker  *imapserver.SessionTracker
}

var (
	_ imapserver.SessionIMAP4rev2 = (*session)(nil)
)

func (s *Service) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	defer service.Recover(s.log, "imap")
	nc := c.NetConn()
	return &session{s: s, conn: c, rec: sessions.FromConn(nc), front: findFront(nc), log: s.log.With("remote", nc.RemoteAddr().String())}, nil, nil
}

// guard, deferred by every session method that does real work, turns a
// panic into a NO [SERVERBUG] answer: the connection and labd go on.
func (ss *session) guard(err *error) {
	if ss.loginDone {
		// The login itself completes; the bye fault takes the next command.
		ss.loginDone = false
	} else if *err == nil && ss.user != "" {
		// The bye fault answers the next command after login with BYE.
		if ferr := ss.fault("bye", ""); ferr != nil {
			*err = ferr
		}
	}
	if r := recover(); r != nil {
		ss.log.Error("IMAP command panicked; answered NO, the session goes on", "panic", r, "stack", string(debug.Stack()))
		*err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "internal error"}
	}
	// Whatever store read or write a command made, a database that cannot
	// answer is a temporary failure the client retries (RFC 5530
	// UNAVAILABLE), not the library's generic NO.
	var ie *imap.Error
	if *err != nil && !errors.As(*err, &ie) && errors.Is(*err, store.ErrUnavailable) {
		ss.log.Warn("IMAP command failed: database unavailable", "err", *err)
		*err = unavailableErr()
	}
}

// unavailableErr is the answer to any command the database could not serve.
func unavailableErr() error {
	return noCode(imap.ResponseCodeUnavailable, "the mail database is unavailable right now, try again in a moment")
}

func (ss *session) ctx() context.Context { return context.Background() }

func noErr(text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Text: text}
}

func noCode(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

// storeErr turns store errors into NO responses.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return noCode(imap.ResponseCodeNonExistent, what+": no such mailbox")
	case errors.Is(err, store.ErrExists):
		return noCode(imap.ResponseCodeAlreadyExists, what+": mailbox already exists")
	case errors.Is(err, store.ErrInvalid):
		return noCode(imap.ResponseCodeCannot, what+": "+err.Error())
	case errors.Is(err, store.ErrUnavailable):
		return unavailableErr()
	}
	return err
}

func canonName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return strings.TrimSuffix(name, string(delim))
}

func (ss *session) Close() error {
	ss.unselect()
	return nil
}

func (ss *session) Login(username, password string) (err error) {
	defer ss.guard(&err)
	if ss.s.cfg.RequireTLSForAuth && !ss.overTLS() {
		return noCode(imap.ResponseCodePrivacyRequired, "Login in clear text is disabled here: STARTTLS first, or use port 993")
	}
	if err := ss.fault("unavailable", username); err != nil {
		return err
	}
	u, err := ss.s.deps.Guard.Authenticate(ss.ctx(), "imap", ss.conn.NetConn().RemoteAddr().String(), username, password)
	if err != nil && !errors.Is(err, store.ErrAuthFailed) {
		// Not the student's fault: no failure counted, no pause.
		ss.log.Warn("login not checked: user database unavailable", "user", username, "err", err)
		return unavailableErr()
	}
	if err != nil {
		ss.fails++
		ss.log.Info("login failed", "user", username)
		time.Sleep(ss.s.AuthFailDelay)
		if ss.fails >= ss.s.MaxAuthFailures {
			return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Too many failed logins"}
		}
		return imapserver.ErrAuthFailed
	}
	ss.user = u.Name
	ss.loginDone = true
	if ss.front != nil {
		ss.front.authed.Store(true)
	}
	ss.log = ss.log.With("user", u.Name)
	if ss.rec != nil {
		ss.rec.SetUser(u.Name)
	}
	ss.log.Info("logged in")
	return nil
}

// overTLS reports whether the connection is encrypted: 993 or STARTTLS
// done (both by the front filter, above TLS; a *tls.Conn only if the
// library ever did STARTTLS itself).
func (ss *session) overTLS() bool {
	switch c := ss.conn.NetConn().(type) {
	case *tls.Conn:
		return true
	case *frontConn:
		return c.overTLS.Load()
	}
	return false
}

func (ss *session) unselect() {
	ss.selMu.Lock()
	defer ss.selMu.Unlock()
	if ss.sel != nil {
		ss.sel.tracker.Close()
		ss.s.boxes.release(ss.sel.box)
		ss.sel = nil
	}
}

// checkFlags refuses an unknown system flag (\Bogus) with BAD: only
// keywords, without a backslash, can be made up (RFC 3501 2.3.2).
func checkFlags(flags []imap.Flag) error {
	for _, f := range flags {
		if strings.EqualFold(string(f), `\Recent`) {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
				Text: `\Recent is set by the server only, a client cannot store it (RFC 3501 2.3.2)`}
		}
		if strings.HasPrefix(string(f), `\`) && !isSystemFlag(f) {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
				Text: "Unknown system flag " + string(f) + `: system flags are \Seen \Answered \Flagged \Deleted \Draft; keywords have no backslash`}
		}
	}
	return nil
}

func isSystemFlag(f imap.Flag) bool {
	for _, sf := range systemFlags {
		if strings.EqualFold(string(f), string(sf)) {
			return true
		}
	}
	return false
}

var systemFlags = []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}

func (ss *session) Select(name string, options *imap.SelectOptions) (_ *imap.SelectData, err error) {
	defer ss.guard(&err)
	if err := ss.fault("inuse", ""); err != nil {
		return nil, err
	}
	ss.unselect()
	name = canonName(name)
	mb, err := ss.s.deps.Store.Mailbox(ss.ctx(), ss.user, name)
	if err != nil {
		return nil, storeErr(err, "SELECT")
	}
	b, err := ss.s.boxes.acquire(ss.ctx(), mb.ID)
	if err != nil {
		return nil, err
	}
	v := &view{box: b, id: mb.ID, name: mb.Name, validity: mb.UIDValidity, readOnly: options != nil && options.ReadOnly}
	b.mu.Lock()
	v.tracker = b.tracker.NewSession()
	n := uint32(len(b.meta))
	var firstUnseen uint32
	for i, m := range b.meta {
		if !hasFlag(m.Flags, imap.FlagSeen) {
			firstUnseen = uint32(i + 1)
			break
		}
	}
	uidNext := mb.UIDNext
	if n > 0 && b.meta[n-1].UID >= uidNext {
		uidNext = b.meta[n-1].UID + 1
	}
	b.mu.Unlock()
	ss.selMu.Lock()
	ss.sel = v
	ss.selMu.Unlock()
	perm := append([]imap.Flag{}, systemFlags...)
	if !v.readOnly {
		perm = append(perm, imap.FlagWildcard)
	} else {
		perm = nil
	}
	return &imap.SelectData{
		Flags: systemFlags, PermanentFlags: perm, NumMessages: n, FirstUnseenSeqNum: firstUnseen,
		UIDNext: imap.UID(uidNext), UIDValidity: mb.UIDValidity,
	}, nil
}

func (ss *session) Create(name string, options *imap.CreateOptions) (err error) {
	defer ss.guard(&err)
	name = canonName(name)
	if name == "" {
		return noErr("empty mailbox name")
	}
	use := ""
	if options != nil && len(options.SpecialUse) > 0 {
		use = string(options.SpecialUse[0])
	}
	_, err = ss.s.deps.Store.CreateMailbox(ss.ctx(), ss.user, name, use)
	return storeErr(err, "CREATE")
}

func (ss *session) Delete(name string) (err error) {
	defer ss.guard(&err)
	name = canonName(name)
	if name == "INBOX" {
		return noCode(imap.ResponseCodeCannot, "INBOX cannot be deleted")
	}
	return storeErr(ss.s.deps.Store.DeleteMailbox(ss.ctx(), ss.user, name), "DELETE")
}

func (ss *session) Rename(name, newName string, _ *imap.RenameOptions) (err error) {
	defer ss.guard(&err)
	return storeErr(ss.s.deps.Store.RenameMailbox(ss.ctx(), ss.user, canonName(name), canonName(newName)), "RENAME")
}

func (ss *session) Subscribe(name string) error {
	return storeErr(ss.s.deps.Store.SetSubscribed(ss.ctx(), ss.user, canonName(name), true), "SUBSCRIBE")
}

func (ss *session) Unsubscribe(name string) error {
	return storeErr(ss.s.deps.Store.SetSubscribed(ss.ctx(), ss.user, canonName(name), false), "UNSUBSCRIBE")
}

func (ss *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) (err error) {
	defer ss.guard(&err)
	if len(patterns) == 0 || (len(patterns) == 1 && patterns[0] == "") {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	mbs, err := ss.s.deps.Store.Mailboxes(ss.ctx(), ss.user)
	if err != nil {
		return err
	}
	// Levels of the hierarchy that are not mailboxes themselves
	// ("Projets" for "Projets/TP3") are listed \Noselect, as RFC 3501
	// wants for "%".
	exists := map[string]bool{}
	for _, mb := range mbs {
		exists[mb.Name] = true
	}
	virtual := map[string]bool{}
	for _, mb := range mbs {
		parts := strings.Split(mb.Name, string(delim))
		for i := 1; i < len(parts); i++ {
			p := strings.Join(parts[:i], string(delim))
			if !exists[p] && !virtual[p] {
				virtual[p] = true
				mbs = append(mbs, store.Mailbox{Name: p})
			}
		}
	}
	sort.Slice(mbs, func(i, j int) bool {
		if (mbs[i].Name == "INBOX") != (mbs[j].Name == "INBOX") {
			return mbs[i].Name == "INBOX"
		}
		return mbs[i].Name < mbs[j].Name
	})
	for _, mb := range mbs {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(mb.Name, delim, ref, p) || (isInbox(mb.Name) && matchInbox(mb.Name, delim, ref, p)) || matchJoined(mb.Name, delim, ref, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		if options.SelectSubscribed && !mb.Subscribed {
			continue
		}
		if options.SelectSpecialUse && mb.SpecialUse == "" {
			continue
		}
		data := &imap.ListData{Mailbox: mb.Name, Delim: delim}
		children := false
		for _, o := range mbs {
			if strings.HasPrefix(o.Name, mb.Name+string(delim)) {
				children = true
				break
			}
		}
		if virtual[mb.Name] {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		}
		if children {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if mb.Subscribed && (options.SelectSubscribed || options.ReturnSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if mb.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(mb.SpecialUse))
		}
		if options.ReturnStatus != nil && !virtual[mb.Name] {
			data.Status = ss.statusData(mb, options.ReturnStatus)
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// matchJoined also reads a reference without a trailing delimiter the way
// dovecot does, reference and pattern joined as they are: curl's
// imap://host/INBOX sends LIST "INBOX" *, which then finds INBOX itself
// and not only its children (RFC 3501 6.3.8 leaves the reading to the
// server; go-imap adds the delimiter).
func matchJoined(name string, delim rune, ref, p string) bool {
	d := string(delim)
	if ref == "" || strings.HasSuffix(ref, d) || strings.HasPrefix(p, d) {
		return false
	}
	j := ref + p
	if isInbox(name) {
		j = inboxCase(j)
	}
	return imapserver.MatchList(name, delim, "", j)
}

func isInbox(name string) bool { return name == "INBOX" || strings.HasPrefix(name, "INBOX/") }

// matchInbox matches INBOX and its children with "inbox" spelt in any case
// at the start of the reference, or of the pattern without a reference:
// INBOX is case-insensitive (RFC 3501 5.1), "in%", "Inbox/*" and
// LIST "inbox/" "%" find it too.
func matchInbox(name string, delim rune, ref, p string) bool {
	if ref != "" {
		return imapserver.MatchList(name, delim, inboxCase(ref), p)
	}
	return imapserver.MatchList(name, delim, "", inboxCase(p))
}

// inboxCase upper-cases the leading letters of s that spell the start of
// "INBOX" in any case ("inb%" becomes "INB%").
func inboxCase(s string) string {
	i := 0
	for i < len(s) && i < 5 && (s[i]|0x20) == "inbox"[i] {
		i++
	}
	return strings.ToUpper(s[:i]) + s[i:]
}

func (ss *session) statusData(mb store.Mailbox, o *imap.StatusOptions) *imap.StatusData {
	d := &imap.StatusData{Mailbox: mb.Name}
	if o.NumMessages {
		n := uint32(mb.Messages)
		d.NumMessages = &n
	}
	if o.UIDNext {
		d.UIDNext = imap.UID(mb.UIDNext)
	}
	if o.UIDValidity {
		d.UIDValidity = mb.UIDValidity
	}
	if o.NumUnseen {
		n := uint32(mb.Unseen)
		d.NumUnseen = &n
	}
	if o.NumRecent {
		n := uint32(0)
		d.NumRecent = &n
	}
	if o.Size {
		n := mb.Size
		d.Size = &n
	}
	if o.NumDeleted {
		var n uint32
		msgs, _ := ss.s.deps.Store.Messages(ss.ctx(), mb.ID)
		for _, m := range msgs {
			if hasFlag(m.Flags, imap.FlagDeleted) {
				n++
			}
		}
		d.NumDeleted = &n
	}
	return d
}

func (ss *session) Status(name string, options *imap.StatusOptions) (_ *imap.StatusData, err error) {
	defer ss.guard(&err)
	mb, err := ss.s.deps.Store.Mailbox(ss.ctx(), ss.user, canonName(name))
	if err != nil {
		return nil, storeErr(err, "STATUS")
	}
	return ss.statusData(mb, options), nil
}

// AppendLimit caps an APPEND literal at the size SMTP accepts (the
// library's default, 100 MiB read into memory per connection, would let one
// student exhaust the host's memory); the library refuses larger literals
// before reading them.
func (ss *session) AppendLimit() uint32 {
	n := ss.s.deps.Config.SMTP.MaxMessageBytes
	if n <= 0 || n > 1<<31 {
		n = 1 << 31
	}
	return uint32(n)
}

func (ss *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (_ *imap.AppendData, err error) {
	defer ss.guard(&err)
	// The size is known before the data: take it from the daemon's
	// in-flight budget or refuse at once (the library discards the data).
	if !ss.s.deps.Inflight.TryAcquire(r.Size()) {
		ss.log.Warn("APPEND refused: in-flight message budget used up", "bytes", r.Size())
		return nil, noCode(imap.ResponseCodeLimit, "too many large messages in flight on this server, try again in a minute")
	}
	defer ss.s.deps.Inflight.Release(r.Size())
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if options != nil {
		if err := checkFlags(options.Flags); err != nil {
			return nil, err
		}
	}
	raw = mail.NormalizeCRLF(raw)
	date := time.Now()
	var flags []string
	if options != nil {
		if !options.Time.IsZero() {
			date = options.Time
		}
		flags = fromFlags(options.Flags)
	}
	mb, uid, err := ss.s.deps.Store.Append(ss.ctx(), ss.user, canonName(name), raw, flags, date)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noCode(imap.ResponseCodeTryCreate, "APPEND: no such mailbox")
	}
	if err != nil {
		return nil, storeErr(err, "APPEND")
	}
	// What was stored, byte for byte (the store keeps raw as it is given):
	// a client often fetches what it just appended (a sent message, an
	// offline sync), and it is here already. Nothing writes to raw now;
	// io.ReadAll's array may be much longer than the message, and the
	// cache would hold all of it.
	if cap(raw) > len(raw)+len(raw)/8 {
		raw = bytes.Clone(raw)
	}
	ss.s.bodies.put(msgKey{mb.ID, uid}, raw)
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: mb.UIDValidity}, nil
}

func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if ss.sel == nil {
		return nil
	}
	return ss.sel.tracker.Poll(w, allowExpunge)
}

func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	ss.selMu.Lock()
	defer ss.selMu.Unlock()
	if ss.sel == nil {
		<-stop
		return nil
	}
	return ss.sel.tracker.Idle(w, stop)
}

func (ss *session) Unselect() error {
	ss.unselect()
	return nil
}

func (ss *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	defer ss.guard(&err)
	v := ss.sel
	if v.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			// CLOSE (the library's writer without a connection): after
			// EXAMINE it just closes, silently (RFC 3501 6.4.2).
			return nil
		}
		return noCode(imap.ResponseCodeCannot, "mailbox is read-only (EXAMINE)")
	}
	var list []uint32
	if uids != nil {
		msgs, err := ss.s.deps.Store.Messages(ss.ctx(), v.id)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if uids.Contains(imap.UID(m.UID)) && hasFlag(m.Flags, imap.FlagDeleted) {
				list = append(list, m.UID)
			}
		}
		if len(list) == 0 {
			return nil
		}
	}
	// The EXPUNGE responses come from the tracker when the command is
	// polled, like every other session's.
	_, err = ss.s.deps.Store.Expunge(ss.ctx(), v.id, list)
	return err
}

// target is one message of a number set: its sequence number as this
// session knows it, and its UID.
type target struct {
	seq, uid uint32
}

var errNoSuchMessage = &imap.Error{Type: imap.StatusResponseTypeBad, Text: "No such message (sequence number beyond the mailbox)"}

// resolveSeq is resolve that refuses sequence numbers beyond the mailbox,
// as RFC 3501 wants for FETCH, STORE, COPY and MOVE (a student typing
// FETCH 5 in a 2-message mailbox learns why). UIDs that do not exist are
// silently skipped, as RFC 3501 says.
func (v *view) resolveSeq(numSet imap.NumSet) ([]target, error) {
	ts, bad := v.resolveCheck(numSet)
	if bad {
		return nil, errNoSuchMessage
	}
	return ts, nil
}

// resolve maps a sequence or UID set to the messages this session sees.
func (v *view) resolve(numSet imap.NumSet) []target {
	ts, _ := v.resolveCheck(numSet)
	return ts
}

func (v *view) resolveCheck(numSet imap.NumSet) ([]target, bool) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	visible := make([]target, 0, len(b.meta))
	for i, m := range b.meta {
		if s := v.tracker.EncodeSeqNum(uint32(i + 1)); s != 0 {
			visible = append(visible, target{s, m.UID})
		}
	}
	var maxSeq, maxUID uint32
	if n := len(visible); n > 0 {
		maxSeq, maxUID = visible[n-1].seq, visible[n-1].uid
	}
	var out []target
	bad := false
	switch set := numSet.(type) {
	case imap.SeqSet:
		set = append(imap.SeqSet(nil), set...)
		for i := range set {
			if set[i].Start > maxSeq || set[i].Stop > maxSeq {
				bad = true
			}
			staticRange(&set[i].Start, &set[i].Stop, maxSeq)
		}
		for _, t := range visible {
			if set.Contains(t.seq) {
				out = append(out, t)
			}
		}
	case imap.UIDSet:
		set = append(imap.UIDSet(nil), set...)
		for i := range set {
			staticRange((*uint32)(&set[i].Start), (*uint32)(&set[i].Stop), maxUID)
		}
		for _, t := range visible {
			if set.Contains(imap.UID(t.uid)) {
				out = append(out, t)
			}
		}
	}
	return out, bad
}

func staticRange(start, stop *uint32, max uint32) {
	dyn := false
	if *start == 0 {
		*start, dyn = max, true
	}
	if *stop == 0 {
		*stop, dyn = max, true
	}
	if dyn && *start > *stop {
		*start, *stop = *stop, *start
	}
}

func uidsOf(ts []target) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.uid
	}
	return out
}

func (ss *session) meta(id int64) (map[uint32]store.Message, error) {
	msgs, err := ss.s.deps.Store.Messages(ss.ctx(), id)
	if err != nil {
		return nil, err
	}
	m := make(map[uint32]store.Message, len(msgs))
	for _, x := range msgs {
		m[x.UID] = x
	}
	return m, nil
}

func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	defer ss.guard(&err)
	v := ss.sel
	targets, err := v.resolveSeq(numSet)
	if err != nil || len(targets) == 0 {
		return err
	}
	// Flags and sizes as the box's events left them (the store's
	// committed state on this host; another host's changes once their
	// events arrive, as the tracker announces them); the store only for
	// internal dates the box does not know.
	meta, ok := v.box.metaOf(targets, options.InternalDate)
	if !ok {
		if meta, err = ss.meta(v.id); err != nil {
			return err
		}
	}
	markSeen := false
	if !v.readOnly {
		for _, bs := range options.BodySection {
			if !bs.Peek {
				markSeen = true
			}
		}
		for _, bs := range options.BinarySection {
			if !bs.Peek {
				markSeen = true
			}
		}
	}
	if markSeen {
		var unseen []uint32
		for _, t := range targets {
			if m, ok := meta[t.uid]; ok && !hasFlag(m.Flags, imap.FlagSeen) {
				unseen = append(unseen, t.uid)
			}
		}
		if len(unseen) > 0 {
			// No origin: the tracker tells this session too (FETCH FLAGS).
			changed, err := ss.s.deps.Store.StoreFlags(ss.ctx(), v.id, unseen, store.FlagsAdd, []string{string(imap.FlagSeen)})
			if err != nil {
				return err
			}
			for _, m := range changed {
				meta[m.UID] = m
			}
		}
	}
	needRaw, needParsed := fetchNeeds(options)
	if len(targets) > 1 {
		// Many responses in a row: gathered writes and full segments.
		// The tagged OK follows, released and uncorked, once Fetch
		// returns.
		release := gatherWrites(ss.conn.NetConn())
		defer func() {
			if rerr := release(); err == nil {
				err = rerr
			}
		}()
	}
	keys := make([]string, len(options.BodySection))
	for i, bs := range options.BodySection {
		if headerOnly(bs) {
			keys[i] = sectionKey(bs)
		}
	}
	var bodies map[uint32][]byte
	for i, t := range targets {
		m, ok := meta[t.uid]
		if !ok {
			continue // expunged meanwhile
		}
		var raw []byte
		var p *parsed
		key := msgKey{v.id, t.uid}
		if needParsed {
			p, _ = ss.s.parsed.get(key)
		}
		if needRaw || (needParsed && p == nil) {
			if raw, ok = ss.s.bodies.get(key); !ok {
				if raw, ok = bodies[t.uid]; !ok {
					if bodies, err = ss.readAhead(v.id, targets[i:], meta, needRaw); err != nil {
						return err
					}
					raw, ok = bodies[t.uid]
				}
				if !ok {
					continue // expunged meanwhile
				}
				delete(bodies, t.uid)
			}
		}
		if needParsed && p == nil {
			p = parse(raw)
			ss.s.parsed.put(key, p)
		}
		if err := writeMessage(w.CreateMessage(t.seq), m, raw, p, options, keys); err != nil {
			return err
		}
	}
	return nil
}

// Read-ahead of whole messages for FETCH: one store query for up to
// readAheadCount messages (one SQLite read transaction and statement run
// instead of one per message: that was half of a full-body FETCH's CPU),
// bounded in bytes so that a FETCH of large messages holds few at a time.
const (
	readAheadCount = 64
	readAheadBytes = 1 << 20
)

// readAhead reads the bodies of the messages of targets, from the first
// on, that the FETCH will need: the first always, then as many as the
// bounds allow of those not in the body cache (and, with only parsed data
// needed, not in the parse cache). What it reads goes into the body cache.
func (ss *session) readAhead(mailboxID int64, targets []target, meta map[uint32]store.Message, needRaw bool) (map[uint32][]byte, error) {
	uids := []uint32{targets[0].uid}
	size := meta[targets[0].uid].Size
	for _, t := range targets[1:] {
		m, ok := meta[t.uid]
		k := msgKey{mailboxID, t.uid}
		if !ok || ss.s.bodies.has(k) || (!needRaw && ss.s.parsed.has(k)) {
			continue
		}
		if len(uids) == readAheadCount || size+m.Size > readAheadBytes {
			break
		}
		uids = append(uids, t.uid)
		size += m.Size
	}
	bodies, err := ss.s.deps.Store.Bodies(ss.ctx(), mailboxID, uids)
	if err != nil {
		return nil, err
	}
	for uid, b := range bodies {
		ss.s.bodies.put(msgKey{mailboxID, uid}, b)
	}
	return bodies, nil
}

// body returns a whole message, from the body cache or the store (and
// then caches it).
func (ss *session) body(mailboxID int64, uid uint32) ([]byte, error) {
	k := msgKey{mailboxID, uid}
	if b, ok := ss.s.bodies.get(k); ok {
		return b, nil
	}
	b, err := ss.s.deps.Store.Body(ss.ctx(), mailboxID, uid)
	if err == nil {
		ss.s.bodies.put(k, b)
	}
	return b, err
}

// fetchNeeds says whether a FETCH needs whole messages (raw) or only what
// parseCache keeps (the envelope, the body structure, the top-level
// header): a client opening a folder asks only for the latter.
func fetchNeeds(options *imap.FetchOptions) (raw, parsed bool) {
	parsed = options.Envelope || options.BodyStructure != nil
	for _, bs := range options.BodySection {
		if headerOnly(bs) {
			parsed = true
		} else {
			raw = true
		}
	}
	if len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		raw = true
	}
	return raw, parsed
}

// headerOnly is true for BODY[HEADER], BODY[HEADER.FIELDS (...)] and
// BODY[HEADER.FIELDS.NOT (...)] of the message itself.
func headerOnly(bs *imap.FetchItemBodySection) bool {
	return len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierHeader
}

// partial is the <offset.size> slice of a section, as imapserver does it.
func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset > int64(len(b)) {
		return nil
	}
	return b[p.Offset:min(p.Offset+p.Size, int64(len(b)))]
}

// writeMessage writes one message's FETCH response; keys[i] is
// sectionKey of options.BodySection[i] where that is a header section.
func writeMessage(w *imapserver.FetchResponseWriter, m store.Message, raw []byte, p *parsed, options *imap.FetchOptions, keys []string) error {
	w.WriteUID(imap.UID(m.UID))
	if options.Flags {
		w.WriteFlags(toFlags(m.Flags))
	}
	if options.InternalDate {
		w.WriteInternalDate(m.InternalDate)
	}
	if options.RFC822Size {
		w.WriteRFC822Size(m.Size)
	}
	if options.Envelope {
		w.WriteEnvelope(p.env)
	}
	if options.BodyStructure != nil {
		w.WriteBodyStructure(p.bs)
	}
	for i, bs := range options.BodySection {
		var buf []byte
		switch {
		case headerOnly(bs):
			buf = p.headerSection(bs, keys[i])
		case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone:
			// BODY[] is the message as stored: no need to parse and
			// re-serialise it.
			buf = partial(raw, bs.Partial)
		case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierText:
			buf = partial(raw[headerLen(raw):], bs.Partial)
		default:
			buf = imapserver.ExtractBodySection(bytes.NewReader(raw), bs)
		}
		wc := w.WriteBodySection(bs, int64(len(buf)))
		_, werr := wc.Write(buf)
		cerr := wc.Close()
		if werr != nil {
			return werr
		}
		if cerr != nil {
			return cerr
		}
	}
	for _, bs := range options.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(raw), bs)
		wc := w.WriteBinarySection(bs, int64(len(buf)))
		_, werr := wc.Write(buf)
		cerr := wc.Close()
		if werr != nil {
			return werr
		}
		if cerr != nil {
			return cerr
		}
	}
	for _, bss := range options.BinarySectionSize {
		w.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bss))
	}
	return w.Close()
}

func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) (err error) {
	defer ss.guard(&err)
	v := ss.sel
	if v.readOnly {
		return noCode(imap.ResponseCodeCannot, "mailbox is read-only (EXAMINE)")
	}
	if err := checkFlags(flags.Flags); err != nil {
		return err
	}
	targets, err := v.resolveSeq(numSet)
	if err != nil || len(targets) == 0 {
		return err
	}
	var op store.FlagOp
	switch flags.Op {
	case imap.StoreFlagsSet:
		op = store.FlagsSet
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	}
	ctx := store.WithOrigin(ss.ctx(), v.tracker)
	changed, err := ss.s.deps.Store.StoreFlags(ctx, v.id, uidsOf(targets), op, fromFlags(flags.Flags))
	if err != nil {
		return err
	}
	if flags.Silent {
		return nil
	}
	byUID := map[uint32]store.Message{}
	for _, m := range changed {
		byUID[m.UID] = m
	}
	for _, t := range targets {
		m, ok := byUID[t.uid]
		if !ok {
			continue
		}
		rw := w.CreateMessage(t.seq)
		rw.WriteUID(imap.UID(t.uid))
		rw.WriteFlags(toFlags(m.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (ss *session) copyData(mb store.Mailbox, pairs []store.CopiedUID) *imap.CopyData {
	if len(pairs) == 0 {
		return nil
	}
	var src, dst imap.UIDSet
	for _, p := range pairs {
		src.AddNum(imap.UID(p.Src))
		dst.AddNum(imap.UID(p.Dst))
	}
	return &imap.CopyData{UIDValidity: mb.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

func (ss *session) Copy(numSet imap.NumSet, dest string) (_ *imap.CopyData, err error) {
	defer ss.guard(&err)
	v := ss.sel
	targets, err := v.resolveSeq(numSet)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	mb, pairs, err := ss.s.deps.Store.Copy(ss.ctx(), v.id, uidsOf(targets), ss.user, canonName(dest))
	if errors.Is(err, store.ErrNotFound) {
		return nil, noCode(imap.ResponseCodeTryCreate, "COPY: no such mailbox")
	}
	if err != nil {
		return nil, storeErr(err, "COPY")
	}
	return ss.copyData(mb, pairs), nil
}

func (ss *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	defer ss.guard(&err)
	v := ss.sel
	if v.readOnly {
		return noCode(imap.ResponseCodeCannot, "mailbox is read-only (EXAMINE)")
	}
	targets, err := v.resolveSeq(numSet)
	if err != nil || len(targets) == 0 {
		return err
	}
	if canonName(dest) == v.name {
		return noErr("MOVE: source and destination are the same mailbox")
	}
	mb, pairs, err := ss.s.deps.Store.Move(ss.ctx(), v.id, uidsOf(targets), ss.user, canonName(dest))
	if errors.Is(err, store.ErrNotFound) {
		return noCode(imap.ResponseCodeTryCreate, "MOVE: no such mailbox")
	}
	if err != nil {
		return storeErr(err, "MOVE")
	}
	if cd := ss.copyData(mb, pairs); cd != nil {
		if err := w.WriteCopyData(cd); err != nil {
			return err
		}
	}
	// EXPUNGE responses follow from the tracker when the command is polled.
	return nil
}

func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (_ *imap.SearchData, err error) {
	defer ss.guard(&err)
	v := ss.sel
	targets := v.resolve(imap.SeqSet{{Start: 1, Stop: 0}})
	meta, err := ss.meta(v.id)
	if err != nil {
		return nil, err
	}
	var maxSeq, maxUID uint32
	if n := len(targets); n > 0 {
		maxSeq, maxUID = targets[n-1].seq, targets[n-1].uid
	}
	staticCriteria(criteria, maxSeq, maxUID)
	needBody := criteriaNeedBody(criteria)
	var data imap.SearchData
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for _, t := range targets {
		m, ok := meta[t.uid]
		if !ok {
			continue
		}
		c := &candidate{seq: t.seq, msg: m}
		if needBody {
			c.raw, err = ss.body(v.id, t.uid)
			if err != nil {
				continue
			}
		}
		if !c.match(criteria) {
			continue
		}
		num := t.seq
		if kind == imapserver.NumKindUID {
			num = t.uid
			uids.AddNum(imap.UID(t.uid))
		} else {
			seqs.AddNum(t.seq)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	return &data, nil
}

package imap_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"labd/config"
	"labd/internal/labtest"
	"labd/internal/mail"
	"labd/internal/service"
	imapsvc "labd/services/imap"
)

type env struct {
	plain, secure string
	deps          service.Deps
}

func start(t *testing.T, edit ...func(*config.Config)) env {
	t.Helper()
	cfg := labtest.Config(t)
	for _, f := range edit {
		f(cfg)
	}
	return startWith(t, labtest.Deps(t, cfg))
}

func startWith(t *testing.T, d service.Deps) env {
	t.Helper()
	svc, err := imapsvc.NewService(d)
	if err != nil {
		t.Fatal(err)
	}
	svc.AuthFailDelay = time.Millisecond
	eps := labtest.Start(t, svc)
	return env{labtest.Addr(t, eps, "imap", "tcp"), labtest.Addr(t, eps, "imaps", "tcp"), d}
}

func deliver(t *testing.T, d service.Deps, user string, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := d.Store.Deliver(context.Background(), []string{user}, []byte(m), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	msg1 = "From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: first\r\n\r\nhello world\r\n"
	msg2 = "From: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: second\r\n\r\nbanana split\r\n"
)

// updates collects unilateral data of one client.
type updates struct {
	mu       sync.Mutex
	expunged []uint32
	flags    map[uint32][]imap.Flag
	exists   []uint32
	ch       chan struct{}
}

func (u *updates) notify() {
	select {
	case u.ch <- struct{}{}:
	default:
	}
}

func login(t *testing.T, addr, user string) (*imapclient.Client, *updates) {
	t.Helper()
	u := &updates{flags: map[uint32][]imap.Flag{}, ch: make(chan struct{}, 1)}
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			u.mu.Lock()
			u.expunged = append(u.expunged, seq)
			u.mu.Unlock()
			u.notify()
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.mu.Lock()
				u.exists = append(u.exists, *d.NumMessages)
				u.mu.Unlock()
				u.notify()
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			b, err := m.Collect()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.flags[b.SeqNum] = b.Flags
			u.mu.Unlock()
			u.notify()
		},
	}}
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, user).Wait(); err != nil {
		t.Fatalf("LOGIN %s: %v", user, err)
	}
	return c, u
}

func fetchAll(t *testing.T, c *imapclient.Client, set imap.NumSet, o *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, o).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	return msgs
}

func hasFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func TestLoginListSelect(t *testing.T) {
	e := start(t)
	c, _ := login(t, e.plain, "alice")
	if err := c.Login("alice", "wrong").Wait(); err == nil {
		t.Error("second LOGIN accepted")
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string][]imap.MailboxAttr{}
	for _, l := range list {
		attrs[l.Mailbox] = l.Attrs
		if l.Delim != '/' {
			t.Errorf("%s: delimiter %q", l.Mailbox, l.Delim)
		}
	}
	for name, want := range map[string]imap.MailboxAttr{"Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts, "Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk} {
		found := false
		for _, a := range attrs[name] {
			found = found || a == want
		}
		if !found {
			t.Errorf("LIST %s attrs %v, want %s", name, attrs[name], want)
		}
	}
	if _, ok := attrs["INBOX"]; !ok {
		t.Errorf("no INBOX in %v", attrs)
	}
	deliver(t, e.deps, "alice", msg1, msg2)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 || sel.UIDNext != 3 || sel.UIDValidity == 0 {
		t.Errorf("SELECT = %+v", sel)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true}).Wait()
	if err != nil || *st.NumMessages != 2 || *st.NumUnseen != 2 || st.UIDNext != 3 {
		t.Errorf("STATUS = %+v, %v", st, err)
	}
	if _, err := c.Select("Nope", nil).Wait(); err == nil {
		t.Error("SELECT of a missing mailbox succeeded")
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE = %+v, %v", ns, err)
	}
}

func TestWrongPassword(t *testing.T) {
	e := start(t)
	c, err := imapclient.DialInsecure(e.plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "bad").Wait(); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Login("alice", "alice").Wait(); err != nil {
		t.Fatalf("right password after a wrong one: %v", err)
	}
}

func TestFetchMIME(t *testing.T) {
	fixture, err := os.ReadFile("../../testdata/mail/mime-attachment.eml")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t)
	d := &mail.Deliverer{Store: e.deps.Store, Domains: []string{"lab.test"}, Hostname: "lab.test"}
	if err := d.Deliver(context.Background(), "alice@lab.test", []string{"bob"}, fixture, mail.Trace{Helo: "client", ClientAddr: "127.0.0.1", With: "ESMTP"}); err != nil {
		t.Fatal(err)
	}
	mb, _ := e.deps.Store.Mailbox(context.Background(), "bob", "INBOX")
	stored, err := e.deps.Store.Body(context.Background(), mb.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := login(t, e.plain, "bob")

	// EXAMINE: BODY[] does not set \Seen.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	body := &imap.FetchItemBodySection{}
	msgs := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}})
	if len(msgs) != 1 || !bytes.Equal(msgs[0].FindBodySection(body), stored) {
		t.Fatalf("BODY[] under EXAMINE differs from the stored bytes")
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err == nil {
		t.Error("STORE under EXAMINE succeeded")
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, RFC822Size: true, UID: true})[0]
	if hasFlag(m.Flags, imap.FlagSeen) {
		t.Fatalf("EXAMINE + BODY[] set \\Seen: %v", m.Flags)
	}
	if m.RFC822Size != int64(len(stored)) {
		t.Errorf("RFC822.SIZE %d, want %d", m.RFC822Size, len(stored))
	}
	if want := "Résumé du TP n°3 — pièce jointe"; m.Envelope.Subject != want {
		t.Errorf("ENVELOPE subject %q, want %q", m.Envelope.Subject, want)
	}
	if len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "alice@lab.test" || m.Envelope.From[0].Name != "Alice Martin" {
		t.Errorf("ENVELOPE from %+v", m.Envelope.From)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || !strings.EqualFold(mp.Subtype, "mixed") || len(mp.Children) != 2 {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	p1, ok1 := mp.Children[0].(*imap.BodyStructureSinglePart)
	p2, ok2 := mp.Children[1].(*imap.BodyStructureSinglePart)
	if !ok1 || !ok2 || !strings.EqualFold(p1.Encoding, "quoted-printable") || !strings.EqualFold(p2.Encoding, "base64") || !strings.EqualFold(p2.Type, "application") {
		t.Errorf("parts: %#v %#v", mp.Children[0], mp.Children[1])
	}

	// BODY.PEEK[1] leaves \Seen alone; part 1 is the QP text.
	peek := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	m = fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{peek}})[0]
	if !bytes.Contains(m.FindBodySection(peek), []byte("r=C3=A9sum=C3=A9")) || hasFlag(m.Flags, imap.FlagSeen) {
		t.Errorf("BODY.PEEK[1] = %q flags %v", m.FindBodySection(peek), m.Flags)
	}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 5}}
	m = fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{partial}})[0]
	if got := string(m.FindBodySection(partial)); got != string(stored[6:11]) {
		t.Errorf("BODY.PEEK[]<6.5> = %q, want %q", got, stored[6:11])
	}
	// BODY[] sets it.
	m = fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}})[0]
	if !bytes.Equal(m.FindBodySection(body), stored) {
		t.Fatal("BODY[] differs from the stored bytes")
	}
	m = fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})[0]
	if !hasFlag(m.Flags, imap.FlagSeen) {
		t.Errorf("BODY[] did not set \\Seen: %v", m.Flags)
	}
}

func wait(t *testing.T, u *updates, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		u.mu.Lock()
		ok := cond()
		u.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-u.ch:
		case <-deadline:
			t.Fatalf("no %s within 30 s (a loaded machine under -race)", what)
		}
	}
}

func TestConcurrentSessions(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	a, _ := login(t, e.plain, "alice")
	b, ub := login(t, e.plain, "alice")
	for _, c := range []*imapclient.Client{a, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	// STORE in A, NOOP in B shows FETCH FLAGS.
	if err := a.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, ub, "FETCH FLAGS", func() bool { return hasFlag(ub.flags[2], imap.FlagFlagged) })

	// IDLE sees a delivery.
	idle, err := b.Idle()
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, e.deps, "alice", msg1)
	wait(t, ub, "EXISTS during IDLE", func() bool { return len(ub.exists) > 0 && ub.exists[len(ub.exists)-1] == 3 })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// An expunge straight through the store (what POP3 DELE+QUIT does).
	mb, _ := e.deps.Store.Mailbox(context.Background(), "alice", "INBOX")
	if _, err := e.deps.Store.Expunge(context.Background(), mb.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, ub, "EXPUNGE", func() bool { return len(ub.expunged) == 1 && ub.expunged[0] == 1 })
	m := fetchAll(t, b, imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true})
	if len(m) != 1 || m[0].UID != 2 || !hasFlag(m[0].Flags, imap.FlagFlagged) {
		t.Errorf("after expunge, message 1 = %+v", m)
	}

	// EXPUNGE of \Deleted in A.
	if err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// A still numbers the store-expunged message as 1 until it polls; NOOP first.
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := a.Expunge().Collect()
	if err != nil || len(exp) != 1 || exp[0] != 1 {
		t.Errorf("EXPUNGE = %v, %v", exp, err)
	}
}

func TestCopyMoveAppendMailboxes(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	c, _ := login(t, e.plain, "alice")
	if err := c.Create("Projets/TP3", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Projets/TP3", nil).Wait(); err == nil {
		t.Error("CREATE of an existing mailbox succeeded")
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cd, err := c.Copy(imap.SeqSetNum(1), "Projets/TP3").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cd.UIDValidity == 0 || cd.SourceUIDs.String() != "1" || cd.DestUIDs.String() != "1" {
		t.Errorf("COPYUID %+v", cd)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Missing").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}
	md, err := c.Move(imap.SeqSetNum(2), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if md.SourceUIDs.String() != "2" || md.DestUIDs.String() != "1" {
		t.Errorf("MOVE COPYUID %+v", md)
	}
	msgs := fetchAll(t, c, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true})
	if len(msgs) != 1 || msgs[0].UID != 1 {
		t.Errorf("INBOX after MOVE: %+v", msgs)
	}

	raw := "From: alice@lab.test\r\nSubject: draft\r\n\r\nunfinished\r\n"
	ac := c.Append("Drafts", int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	io.WriteString(ac, raw)
	ac.Close()
	ad, err := ac.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ad.UID != 1 || ad.UIDValidity == 0 {
		t.Errorf("APPENDUID %+v", ad)
	}
	mb, _ := e.deps.Store.Mailbox(context.Background(), "alice", "Drafts")
	if got, _ := e.deps.Store.Body(context.Background(), mb.ID, 1); string(got) != raw {
		t.Errorf("appended %q", got)
	}

	if err := c.Rename("Projets/TP3", "Projets/TP4", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("Projets/TP4", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("STATUS after RENAME = %+v, %v", st, err)
	}
	if err := c.Delete("Projets/TP4").Wait(); err != nil {
		t.Fatal(err)
	}
	list, _ := c.List("", "Projets/*", nil).Collect()
	if len(list) != 0 {
		t.Errorf("after DELETE, LIST Projets/* = %+v", list)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	if err := c.Unsubscribe("Sent").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, _ := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	for _, l := range subs {
		if l.Mailbox == "Sent" {
			t.Error("Sent still subscribed")
		}
	}
}

func TestSearch(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2, msg1)
	c, _ := login(t, e.plain, "alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close()
	cases := []struct {
		name string
		c    imap.SearchCriteria
		want string
	}{
		{"all", imap.SearchCriteria{}, "1:3"},
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "SECOND"}}}, "2"},
		{"body", imap.SearchCriteria{Body: []string{"banana"}}, "2"},
		{"text", imap.SearchCriteria{Text: []string{"bob@lab"}}, "1:3"},
		{"flagged", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, "3"},
		{"unflagged", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagFlagged}}, "1:2"},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"hello"}}}}, "2"},
	}
	for _, tc := range cases {
		d, err := c.Search(&tc.c, nil).Wait()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := d.All.String(); got != tc.want {
			t.Errorf("SEARCH %s = %s, want %s", tc.name, got, tc.want)
		}
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"hello"}}, nil).Wait()
	if err != nil || d.All.String() != "1,3" {
		t.Errorf("UID SEARCH = %v, %v", d, err)
	}
}

// The go-imap client over the three ways in, through the front filter's
// fixes (CLOSE after EXAMINE, LIST "" inbox, ENABLE IMAP4rev2, \Bogus).
func TestTLS(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1)
	tc := &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"}
	for _, tt := range []struct {
		mode string
		dial func() (*imapclient.Client, error)
	}{
		{"plaintext", func() (*imapclient.Client, error) { return imapclient.DialInsecure(e.plain, nil) }},
		{"starttls", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(e.plain, &imapclient.Options{TLSConfig: tc})
		}},
		{"imaps", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(e.secure, &imapclient.Options{TLSConfig: tc})
		}},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			c, err := tt.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Caps().Has(imap.CapStartTLS); got != (tt.mode == "plaintext") {
				t.Errorf("STARTTLS advertised: %v", got)
			}
			if err := c.Login("alice", "alice").Wait(); err != nil {
				t.Fatalf("LOGIN: %v", err)
			}
			if en, err := c.Enable(imap.CapIMAP4rev2).Wait(); err != nil || en.Caps.Has(imap.CapIMAP4rev2) {
				t.Errorf("ENABLE IMAP4rev2: %v, %v", en.Caps, err)
			}
			if boxes, err := c.List("", "inbox", nil).Collect(); err != nil || len(boxes) != 1 || boxes[0].Mailbox != "INBOX" {
				t.Errorf(`LIST "" inbox: %v, %v`, boxes, err)
			}
			if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				t.Fatalf("EXAMINE: %v", err)
			}
			if err := c.UnselectAndExpunge().Wait(); err != nil {
				t.Errorf("CLOSE after EXAMINE: %v", err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatalf("SELECT: %v", err)
			}
			err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{`\Bogus`}}, nil).Close()
			var ierr *imap.Error
			if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeBad {
				t.Errorf(`STORE \Bogus: %v, want BAD`, err)
			}
		})
	}
}

func TestRequireTLSForAuth(t *testing.T) {
	e := start(t, func(c *config.Config) { c.IMAP.RequireTLSForAuth = true })
	c, err := imapclient.DialInsecure(e.plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "alice").Wait(); err == nil {
		t.Fatal("LOGIN in clear accepted with require_tls_for_auth")
	}
}

// A student types IMAP by hand with nc (bare LF line endings).
func TestHandTyped(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1)
	conn := labtest.Dial(t, e.plain)
	br := bufio.NewReader(conn)
	readUntil := func(prefix string) string {
		t.Helper()
		var all strings.Builder
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			l, err := br.ReadString('\n')
			all.WriteString(l)
			t.Logf("S: %s", strings.TrimRight(l, "\r\n"))
			if err != nil {
				t.Fatalf("read: %v after %q", err, all.String())
			}
			if strings.HasPrefix(l, prefix) {
				return all.String()
			}
		}
	}
	readUntil("* OK")
	io.WriteString(conn, "a LOGIN alice alice\n")
	if l := readUntil("a "); !strings.Contains(l, "a OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	io.WriteString(conn, "a SELECT INBOX\n")
	if l := readUntil("a "); !strings.Contains(l, "* 1 EXISTS") {
		t.Fatalf("SELECT: %q", l)
	}
	io.WriteString(conn, "a FETCH 1 BODY[]\n")
	if l := readUntil("a "); !strings.Contains(l, "hello world") || !strings.Contains(l, "a OK") {
		t.Fatalf("FETCH: %q", l)
	}
	io.WriteString(conn, "a FETCH 1 (FLAGS BODY.PEEK[HEADER])\n")
	if l := readUntil("a "); !strings.Contains(l, "Subject: first") || strings.Contains(l, "hello world") || !strings.Contains(l, `\Seen`) {
		t.Fatalf("FETCH header only: %q", l)
	}
	io.WriteString(conn, "a STORE 1 +FLAGS (\\Deleted)\n")
	if l := readUntil("a "); !strings.Contains(l, `\Deleted`) || !strings.Contains(l, "a OK") {
		t.Fatalf("STORE: %q", l)
	}
	io.WriteString(conn, "a EXPUNGE\n")
	if l := readUntil("a "); !strings.Contains(l, "* 1 EXPUNGE") || !strings.Contains(l, "a OK") {
		t.Fatalf("EXPUNGE: %q", l)
	}
	io.WriteString(conn, "a BOGUS\n")
	if l := readUntil("a "); !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("BOGUS: %q", l)
	}
	io.WriteString(conn, "a LOGOUT\n")
	readUntil("a OK")
}

func TestUIDValidityStableAcrossRestart(t *testing.T) {
	cfg := labtest.Config(t)
	var validity [2]uint32
	for i := range validity {
		// A fresh store over the same data directory each time, as after
		// a labd restart.
		d := labtest.Deps(t, cfg)
		if i == 0 {
			deliver(t, d, "alice", msg1)
		}
		svc, err := imapsvc.NewService(d)
		if err != nil {
			t.Fatal(err)
		}
		eps, err := svc.Bind()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Serve(ctx) }()
		var addr string
		for _, ep := range eps {
			if ep.Service == "imap" {
				addr = ep.Addr
			}
		}
		c, _ := login(t, addr, "alice")
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		validity[i] = sel.UIDValidity
		if sel.NumMessages != 1 {
			t.Fatalf("run %d: %d messages, want the 1 delivered in the first run", i, sel.NumMessages)
		}
		c.Logout().Wait()
		c.Close()
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		svc.Shutdown(sctx)
		scancel()
		d.Store.Close()
	}
	if validity[0] == 0 || validity[0] != validity[1] {
		t.Errorf("UIDVALIDITY %d then %d", validity[0], validity[1])
	}
}

// A FETCH of many whole messages reads them ahead in batches (bounded in
// count and bytes): every message must still come back whole, in order,
// the large ones included, and with only the envelope asked for after the
// parse cache was filled in part.
func TestFetchManyBodies(t *testing.T) {
	e := start(t)
	var want []string
	for i := 1; i <= 150; i++ {
		fill := 10
		if i%40 == 0 {
			fill = 30000 // about 800 KB: the byte bound ends a batch early
		}
		want = append(want, fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprintf("line %d of message %d\r\n", i, i), fill)))
	}
	deliver(t, e.deps, "bob", want...)
	mb, err := e.deps.Store.Mailbox(context.Background(), "bob", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := login(t, e.plain, "bob")
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	// The envelopes of every other message first: the next FETCH finds
	// half of them in the parse cache.
	var odd imap.SeqSet
	for i := uint32(1); i <= 150; i += 2 {
		odd.AddNum(i)
	}
	fetchAll(t, c, odd, &imap.FetchOptions{Envelope: true})
	env := fetchAll(t, c, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true})
	body := &imap.FetchItemBodySection{Peek: true}
	msgs := fetchAll(t, c, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{body}})
	if len(msgs) != 150 || len(env) != 150 {
		t.Fatalf("fetched %d bodies and %d envelopes of 150 messages", len(msgs), len(env))
	}
	for i, m := range msgs {
		stored, err := e.deps.Store.Body(context.Background(), mb.ID, uint32(m.UID))
		if err != nil {
			t.Fatal(err)
		}
		if m.SeqNum != uint32(i+1) || !bytes.Equal(m.FindBodySection(body), stored) || !strings.Contains(string(stored), want[i]) {
			t.Fatalf("message %d (seq %d, uid %d): BODY[] is not the stored message %d", i+1, m.SeqNum, m.UID, i+1)
		}
		if got := env[i].Envelope.Subject; got != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("message %d: envelope subject %q", i+1, got)
		}
	}
}

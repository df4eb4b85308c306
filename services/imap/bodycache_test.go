package imap_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"labd/config"
)

// What a client gets of a message must be what is stored, whether the
// body cache has it (APPEND fills it, every read does), has a stale entry
// (expunged, or the same UID in another mailbox) or cannot hold it.
func TestFetchThroughBodyCache(t *testing.T) {
	big := "Subject: big\r\n\r\n" + strings.Repeat("a line of a big message\r\n", 2000) // about 50 KB
	tests := []struct {
		name  string
		cache int64 // imap.body_cache_bytes
	}{
		{"default", 0},
		{"a message over an eighth of the cache", 64 << 10},
		{"smaller than every message", 16},
		{"off", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, func(c *config.Config) { c.IMAP.BodyCacheBytes = tt.cache })
			ctx := context.Background()
			if _, err := e.deps.Store.CreateMailbox(ctx, "bob", "Other", ""); err != nil {
				t.Fatal(err)
			}
			a, _ := login(t, e.plain, "bob")
			appendMsg := func(box, msg string) {
				t.Helper()
				cmd := a.Append(box, int64(len(msg)), nil)
				if _, err := cmd.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := cmd.Wait(); err != nil {
					t.Fatalf("APPEND to %s: %v", box, err)
				}
			}
			// UID 1 in both mailboxes, different bytes.
			appendMsg("INBOX", msg1)
			appendMsg("Other", msg2)
			appendMsg("INBOX", big)

			// check fetches every message of the selected mailbox and
			// compares it with the store.
			check := func(c *imapclient.Client, box string, want []string) {
				t.Helper()
				mb, err := e.deps.Store.Mailbox(ctx, "bob", box)
				if err != nil {
					t.Fatal(err)
				}
				whole := &imap.FetchItemBodySection{Peek: true}
				part := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 5, Size: 10}}
				text := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierText}
				msgs := fetchAll(t, c, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
					UID: true, RFC822Size: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{whole, part, text}})
				if len(msgs) != len(want) {
					t.Fatalf("%s: %d messages, want %d", box, len(msgs), len(want))
				}
				for i, m := range msgs {
					stored, err := e.deps.Store.Body(ctx, mb.ID, uint32(m.UID))
					if err != nil {
						t.Fatal(err)
					}
					got := m.FindBodySection(whole)
					switch {
					case !bytes.Equal(got, stored) || string(stored) != want[i]:
						t.Errorf("%s UID %d: BODY[] is not the stored message", box, m.UID)
					case int64(len(got)) != m.RFC822Size:
						t.Errorf("%s UID %d: BODY[] has %d bytes, RFC822.SIZE says %d", box, m.UID, len(got), m.RFC822Size)
					case !bytes.Equal(m.FindBodySection(part), stored[5:15]):
						t.Errorf("%s UID %d: BODY[]<5.10> is %q", box, m.UID, m.FindBodySection(part))
					case !bytes.HasSuffix(stored, m.FindBodySection(text)) || len(m.FindBodySection(text)) == 0:
						t.Errorf("%s UID %d: BODY[TEXT] is %q", box, m.UID, m.FindBodySection(text))
					}
				}
			}
			if _, err := a.Select("Other", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			check(a, "Other", []string{msg2})
			if _, err := a.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			check(a, "INBOX", []string{msg1, big})
			check(a, "INBOX", []string{msg1, big}) // now from the cache if it holds them

			// A FETCH without PEEK sets \Seen, cached or not.
			msgs := fetchAll(t, a, imap.SeqSet{{Start: 1, Stop: 1}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
			if len(msgs) != 1 || string(msgs[0].BodySection[0].Bytes) != msg1 {
				t.Fatalf("FETCH 1 BODY[]: %+v", msgs)
			}
			flags := fetchAll(t, a, imap.SeqSet{{Start: 1, Stop: 1}}, &imap.FetchOptions{Flags: true})
			if len(flags) != 1 || !hasFlag(flags[0].Flags, imap.FlagSeen) {
				t.Fatalf(`FETCH BODY[] did not set \Seen: %+v`, flags)
			}

			// Another session expunges message 1 while a caches it.
			b, _ := login(t, e.plain, "bob")
			if _, err := b.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if err := b.Store(imap.SeqSet{{Start: 1, Stop: 1}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := b.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
			if err := a.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
			if got := fetchAll(t, a, imap.UIDSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}); len(got) != 0 {
				t.Fatalf("UID FETCH of the expunged message answered %d messages", len(got))
			}
			check(a, "INBOX", []string{big})
			// A new message gets a new UID, never the expunged one's.
			next := fmt.Sprintf("Subject: after\r\n\r\nappended at %s\r\n", time.Now())
			appendMsg("INBOX", next)
			for _, c := range []*imapclient.Client{a, b} {
				// The new message reaches each selected session through
				// its mailbox's tracker.
				for deadline := time.Now().Add(10 * time.Second); c.Mailbox().NumMessages < 2; {
					if time.Now().After(deadline) {
						t.Fatalf("EXISTS after APPEND: %d messages", c.Mailbox().NumMessages)
					}
					if err := c.Noop().Wait(); err != nil {
						t.Fatal(err)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			check(a, "INBOX", []string{big, next})
			check(b, "INBOX", []string{big, next})
		})
	}
}

// FETCH takes flags and sizes from the selected mailbox's view, kept by
// the store's events: what other sessions and deliveries change must show
// at once, and an internal date the view does not know comes from the
// store.
func TestFetchMetaFollowsChanges(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "bob", msg1)
	a, _ := login(t, e.plain, "bob")
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	b, _ := login(t, e.plain, "bob")
	date := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	cmd := b.Append("INBOX", int64(len(msg2)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}, Time: date})
	if _, err := cmd.Write([]byte(msg2)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	deliver(t, e.deps, "bob", msg1+"x")
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.SeqSet{{Start: 1, Stop: 1}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); a.Mailbox().NumMessages < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("EXISTS: %d messages", a.Mailbox().NumMessages)
		}
		if err := a.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for _, withDate := range []bool{false, true} {
		msgs := fetchAll(t, a, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, RFC822Size: true, InternalDate: withDate})
		if len(msgs) != 3 {
			t.Fatalf("%d messages", len(msgs))
		}
		if !hasFlag(msgs[0].Flags, imap.FlagAnswered) || !hasFlag(msgs[1].Flags, imap.FlagFlagged) || len(msgs[2].Flags) != 0 {
			t.Errorf("flags %v %v %v, want \\Answered, \\Flagged, none", msgs[0].Flags, msgs[1].Flags, msgs[2].Flags)
		}
		for i, want := range []string{msg1, msg2, msg1 + "x"} {
			if msgs[i].RFC822Size != int64(len(want)) {
				t.Errorf("message %d: RFC822.SIZE %d, want %d", i+1, msgs[i].RFC822Size, len(want))
			}
		}
		if withDate && !msgs[1].InternalDate.Equal(date) {
			t.Errorf("INTERNALDATE of the appended message: %v, want %v", msgs[1].InternalDate, date)
		}
	}
}

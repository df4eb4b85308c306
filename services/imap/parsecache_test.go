package imap

import (
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

func TestParseCacheEvictsOldestWithinBudget(t *testing.T) {
	p := parse([]byte("Subject: x\r\n\r\nbody\r\n"))
	c := newParseCache(3 * p.cost())
	for uid := uint32(1); uid <= 10; uid++ {
		c.put(msgKey{1, uid}, p)
	}
	if c.used > c.max {
		t.Fatalf("used %d over budget %d", c.used, c.max)
	}
	if c.has(msgKey{1, 1}) || !c.has(msgKey{1, 10}) {
		t.Fatal("the oldest entry must go first, the newest stay")
	}
	c.drop(msgKey{1, 10})
	if c.has(msgKey{1, 10}) {
		t.Fatal("dropped entry still cached")
	}
	for uid := uint32(11); uid < 10000; uid++ {
		c.put(msgKey{1, uid}, p)
		c.drop(msgKey{1, uid})
	}
	if len(c.order)-c.head > 2*len(c.m)+1024 {
		t.Fatalf("order keeps %d keys for %d entries", len(c.order)-c.head, len(c.m))
	}
}

// What the cache answers must be what the whole message gives.
func TestParsedMatchesWholeMessage(t *testing.T) {
	msgs := []string{
		"From: a@lab.test\r\nSubject: plain\r\n\r\nhello\r\n",
		"Subject: no body",
		"Subject: bare LF\n\nbody\n",
		"From: a@lab.test\r\nSubject: multi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\n",
	}
	items := []*imap.FetchItemBodySection{
		{Specifier: imap.PartSpecifierHeader},
		{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"subject", "From"}},
		{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}},
		{Specifier: imap.PartSpecifierHeader, Partial: &imap.SectionPartial{Offset: 3, Size: 5}},
	}
	whole := []*imap.FetchItemBodySection{
		{},
		{Specifier: imap.PartSpecifierText},
		{Partial: &imap.SectionPartial{Offset: 5, Size: 10}},
		{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 2, Size: 1000}},
		{Partial: &imap.SectionPartial{Offset: 5000, Size: 10}},
	}
	for _, m := range msgs {
		raw := []byte(m)
		// BODY[] is the stored message, whose length RFC822.SIZE gives;
		// the library re-serialises a malformed header (no blank line,
		// bare LF: labd stores CRLF, so only hand-made fixtures).
		if !bytes.Equal(partial(raw, nil), raw) {
			t.Errorf("%q: BODY[] is not the stored message", m)
		}
		if !bytes.Equal(imapserver.ExtractBodySection(bytes.NewReader(raw), whole[0]), raw) {
			continue
		}
		for _, it := range whole {
			want := imapserver.ExtractBodySection(bytes.NewReader(raw), it)
			var got []byte
			if it.Specifier == imap.PartSpecifierText {
				got = partial(raw[headerLen(raw):], it.Partial)
			} else {
				got = partial(raw, it.Partial)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%q %+v: fast path %q, library %q", m, it, got, want)
			}
		}
		p := parse(raw)
		for _, it := range items {
			want := imapserver.ExtractBodySection(bytes.NewReader(raw), it)
			for range 2 { // computed, then from the section cache
				got := p.headerSection(it, sectionKey(it))
				if !bytes.Equal(got, want) {
					t.Errorf("%q %+v: cached %q, whole %q", m, it, got, want)
				}
			}
		}
	}
}

package imap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"labd/internal/labtest"
	imapsvc "labd/services/imap"
)

// BenchmarkFetchHeaders1000 is what a Thunderbird-like client does when it
// opens a folder: the envelope, flags, size and a few header fields of
// 1,000 messages in one FETCH (issue target: under 100 ms).
//
//	go test -run ^$ -bench FetchHeaders ./services/imap
func BenchmarkFetchHeaders1000(b *testing.B) {
	cfg := labtest.Config(b)
	d := labtest.Deps(b, cfg)
	svc, err := imapsvc.NewService(d)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "imap", "tcp")
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		msg := fmt.Sprintf("From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: message %d\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <%d@lab.test>\r\n\r\n%s\r\n", i, i, "body line\r\n")
		if err := d.Store.Deliver(ctx, []string{"bob"}, []byte(msg), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob", "bob").Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 1000)
	opts := &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "To", "Subject", "Date"}, Peek: true}},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, err := c.Fetch(all, opts).Collect()
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) != 1000 || msgs[999].Envelope.Subject != "message 999" {
			b.Fatalf("fetched %d messages", len(msgs))
		}
	}
}

package imap_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"labd/config"
	"labd/internal/labtest"
	imapsvc "labd/services/imap"
)

// BenchmarkFetchHeaders1000 is what a Thunderbird-like client does when it
// opens a folder: the envelope, flags, size and a few header fields of
// 1,000 messages in one FETCH (issue target: under 100 ms).
//
//	go test -run ^$ -bench Fetch ./services/imap
func BenchmarkFetchHeaders1000(b *testing.B) {
	fetchBench(b, &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{},
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "To", "Subject", "Date"}, Peek: true}},
	}, func(m *imapclient.FetchMessageBuffer) bool { return m.Envelope.Subject == "message 999" })
}

// BenchmarkFetchBodies1000 fetches every whole message of a 1,000-message
// folder (BODY.PEEK[]), as an offline-sync client does.
func BenchmarkFetchBodies1000(b *testing.B) {
	fetchBench(b, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}, func(m *imapclient.FetchMessageBuffer) bool {
		return len(m.BodySection) == 1 && strings.Contains(string(m.BodySection[0].Bytes), "message 999")
	})
}

// BenchmarkFetchBodies1000x10KB is the peer harness's full-body FETCH:
// 1,000 messages of about 10 KB, each bigger than go-imap's write buffer
// (so written in several pieces: see gatherWrites).
func BenchmarkFetchBodies1000x10KB(b *testing.B) {
	fetchBenchBody(b, strings.Repeat("body line of a ten-kilobyte message.\r\n", 270), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}, func(m *imapclient.FetchMessageBuffer) bool {
		return len(m.BodySection) == 1 && strings.Contains(string(m.BodySection[0].Bytes), "message 999")
	})
}

// BenchmarkFetchBodies1000x10KBUncached is BenchmarkFetchBodies1000x10KB
// with the body cache off (imap.body_cache_bytes: -1): every FETCH reads
// the store, as the first FETCH of messages delivered by SMTP does.
func BenchmarkFetchBodies1000x10KBUncached(b *testing.B) {
	fetchBenchBody(b, strings.Repeat("body line of a ten-kilobyte message.\r\n", 270), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}, func(m *imapclient.FetchMessageBuffer) bool {
		return len(m.BodySection) == 1 && strings.Contains(string(m.BodySection[0].Bytes), "message 999")
	}, func(c *config.Config) { c.IMAP.BodyCacheBytes = -1 })
}

func fetchBench(b *testing.B, opts *imap.FetchOptions, lastOK func(*imapclient.FetchMessageBuffer) bool) {
	fetchBenchBody(b, "body line\r\n", opts, lastOK)
}

func fetchBenchBody(b *testing.B, body string, opts *imap.FetchOptions, lastOK func(*imapclient.FetchMessageBuffer) bool, edit ...func(*config.Config)) {
	cfg := labtest.Config(b)
	for _, f := range edit {
		f(cfg)
	}
	d := labtest.Deps(b, cfg)
	svc, err := imapsvc.NewService(d)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "imap", "tcp")
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		msg := fmt.Sprintf("From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: message %d\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <%d@lab.test>\r\n\r\n%s\r\n", i, i, body)
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, err := c.Fetch(all, opts).Collect()
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) != 1000 || !lastOK(msgs[999]) {
			b.Fatalf("fetched %d messages", len(msgs))
		}
	}
}

// BenchmarkAppendSplitCRLF is python imaplib's APPEND: the literal and its
// closing CRLF in two writes, with Nagle's algorithm on (imaplib does not
// set TCP_NODELAY). Without an immediate ACK of the literal each APPEND
// stalls on the delayed-ACK timer (about 40 ms on Linux).
//
//	go test -run ^$ -bench AppendSplitCRLF ./services/imap
func BenchmarkAppendSplitCRLF(b *testing.B) {
	cfg := labtest.Config(b)
	d := labtest.Deps(b, cfg)
	svc, err := imapsvc.NewService(d)
	if err != nil {
		b.Fatal(err)
	}
	addr := labtest.Addr(b, labtest.Start(b, svc), "imap", "tcp")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(false)
	br := bufio.NewReader(c)
	expect := func(prefix string) {
		b.Helper()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				b.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
			if strings.HasPrefix(l, "a ") {
				b.Fatalf("waiting for %q: %q", prefix, l)
			}
		}
	}
	expect("* OK")
	io.WriteString(c, "a LOGIN bob bob\r\n")
	expect("a OK")
	msg := "From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: x\r\n\r\n" + strings.Repeat(strings.Repeat("y", 78)+"\r\n", 128)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fmt.Fprintf(c, "a APPEND INBOX {%d}\r\n", len(msg))
		expect("+")
		io.WriteString(c, msg)
		io.WriteString(c, "\r\n")
		expect("a OK")
	}
}

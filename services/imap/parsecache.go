package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// parsed is what FETCH needs of a message without reading it again: its
// header block, envelope and body structure. Messages never change once
// stored, so it stays true for as long as the message exists.
type parsed struct {
	header []byte // up to and including the blank line that ends it
	env    *imap.Envelope
	bs     imap.BodyStructure

	// sections caches a few header sections as sent (a client opening a
	// folder asks for the same HEADER.FIELDS every time).
	mu       sync.Mutex
	sections map[string][]byte
}

// maxSections bounds parsed.sections; cost counts them in.
const maxSections = 4

// headerSection returns BODY[HEADER...] of the message, from the cache
// when the same section was asked before; key is sectionKey(bs).
func (p *parsed) headerSection(bs *imap.FetchItemBodySection, key string) []byte {
	p.mu.Lock()
	b, ok := p.sections[key]
	p.mu.Unlock()
	if ok {
		return b
	}
	b = imapserver.ExtractBodySection(bytes.NewReader(p.header), bs)
	p.mu.Lock()
	if p.sections == nil {
		p.sections = map[string][]byte{}
	}
	if len(p.sections) < maxSections {
		p.sections[key] = b
	}
	p.mu.Unlock()
	return b
}

// sectionKey names a header section in parsed.sections: computed once
// per FETCH, not per message.
func sectionKey(bs *imap.FetchItemBodySection) string {
	var k strings.Builder
	for _, f := range bs.HeaderFields {
		k.WriteString(strings.ToLower(f))
		k.WriteByte(0)
	}
	k.WriteByte(1)
	for _, f := range bs.HeaderFieldsNot {
		k.WriteString(strings.ToLower(f))
		k.WriteByte(0)
	}
	if bs.Partial != nil {
		fmt.Fprintf(&k, "<%d.%d>", bs.Partial.Offset, bs.Partial.Size)
	}
	return k.String()
}

func parse(raw []byte) *parsed {
	// A copy, so that the cache does not pin whole message bodies.
	p := &parsed{header: bytes.Clone(raw[:headerLen(raw)])}
	if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(p.header))); err == nil {
		p.env = imapserver.ExtractEnvelope(h)
	} else {
		p.env = &imap.Envelope{}
	}
	p.bs = imapserver.ExtractBodyStructure(bytes.NewReader(raw))
	return p
}

// headerLen is the length of the header block of raw, blank line included
// (all of raw if it has no body).
func headerLen(raw []byte) int {
	n := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		n = i + 4
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 && i+2 < n {
		n = i + 2
	}
	return n
}

// cost is the memory an entry is charged in the cache: its header bytes, as
// many again for each cached section at most, and a flat estimate for the
// parsed structures.
func (p *parsed) cost() int { return len(p.header)*(2+maxSections) + 1024 }

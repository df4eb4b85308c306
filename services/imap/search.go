package imap

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"labd/internal/store"
)

// canonical spells system flags the RFC 3501 way whatever case the client
// used; keywords keep theirs (unlike imapmemserver, which lowercases all).
func canonical(f string) string {
	for _, sf := range systemFlags {
		if strings.EqualFold(f, string(sf)) {
			return string(sf)
		}
	}
	return f
}

func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, 0, len(fs))
	for _, f := range fs {
		out = append(out, imap.Flag(canonical(f)))
	}
	return out
}

func fromFlags(fs []imap.Flag) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if strings.EqualFold(string(f), `\Recent`) || f == imap.FlagWildcard {
			continue
		}
		out = append(out, canonical(string(f)))
	}
	return out
}

func hasFlag(fs []string, f imap.Flag) bool {
	for _, x := range fs {
		if strings.EqualFold(x, string(f)) {
			return true
		}
	}
	return false
}

// staticCriteria replaces "*" in the criteria's number sets.
func staticCriteria(c *imap.SearchCriteria, maxSeq, maxUID uint32) {
	for i := range c.SeqNum {
		set := append(imap.SeqSet(nil), c.SeqNum[i]...)
		for j := range set {
			staticRange(&set[j].Start, &set[j].Stop, maxSeq)
		}
		c.SeqNum[i] = set
	}
	for i := range c.UID {
		set := append(imap.UIDSet(nil), c.UID[i]...)
		for j := range set {
			staticRange((*uint32)(&set[j].Start), (*uint32)(&set[j].Stop), maxUID)
		}
		c.UID[i] = set
	}
	for i := range c.Not {
		staticCriteria(&c.Not[i], maxSeq, maxUID)
	}
	for i := range c.Or {
		staticCriteria(&c.Or[i][0], maxSeq, maxUID)
		staticCriteria(&c.Or[i][1], maxSeq, maxUID)
	}
}

func criteriaNeedBody(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if criteriaNeedBody(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if criteriaNeedBody(&c.Or[i][0]) || criteriaNeedBody(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

type candidate struct {
	seq uint32
	msg store.Message
	raw []byte
}

func (c *candidate) entity() *gomessage.Entity {
	e, _ := gomessage.Read(bytes.NewReader(c.raw))
	if e == nil {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(nil))
	}
	return e
}

func (c *candidate) match(cr *imap.SearchCriteria) bool {
	for _, s := range cr.SeqNum {
		if !s.Contains(c.seq) {
			return false
		}
	}
	for _, s := range cr.UID {
		if !s.Contains(imap.UID(c.msg.UID)) {
			return false
		}
	}
	if !matchDate(c.msg.InternalDate, cr.Since, cr.Before) {
		return false
	}
	for _, f := range cr.Flag {
		if !hasFlag(c.msg.Flags, f) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if hasFlag(c.msg.Flags, f) {
			return false
		}
	}
	if cr.Larger != 0 && c.msg.Size <= cr.Larger {
		return false
	}
	if cr.Smaller != 0 && c.msg.Size >= cr.Smaller {
		return false
	}
	if len(cr.Header) > 0 || !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		h := mail.Header{Header: c.entity().Header}
		for _, f := range cr.Header {
			if !matchFields(h.FieldsByKey(f.Key), f.Value) {
				return false
			}
		}
		if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || !matchDate(t, cr.SentSince, cr.SentBefore) {
				return false
			}
		}
	}
	for _, s := range cr.Text {
		if !matchEntity(c.entity(), s, true) {
			return false
		}
	}
	for _, s := range cr.Body {
		if !matchEntity(c.entity(), s, false) {
			return false
		}
	}
	for i := range cr.Not {
		if c.match(&cr.Not[i]) {
			return false
		}
	}
	for i := range cr.Or {
		if !c.match(&cr.Or[i][0]) && !c.match(&cr.Or[i][1]) {
			return false
		}
	}
	return true
}

// matchDate compares days, ignoring time zones (RFC 3501).
func matchDate(t, since, before time.Time) bool {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && t.Before(since) {
		return false
	}
	if !before.IsZero() && !t.Before(before) {
		return false
	}
	return true
}

func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

func matchEntity(e *gomessage.Entity, pattern string, withHeader bool) bool {
	if pattern == "" {
		return true
	}
	if withHeader && matchFields(e.Header.Fields(), pattern) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchEntity(p, pattern, withHeader) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	buf, err := io.ReadAll(e.Body)
	if err != nil && len(buf) == 0 {
		return false
	}
	return bytes.Contains(bytes.ToLower(buf), bytes.ToLower([]byte(pattern)))
}

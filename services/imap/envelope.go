package imap

import "bytes"

// envelopeFixer rewrites imapserver's output on plaintext connections so
// that ENVELOPE address lists follow RFC 3501's grammar: the library
// writes "((a) (b))" with a space between addresses, the grammar has
// "((a)(b))". It follows quoted strings and literals so that nothing else
// is touched, and is streaming: a response may span writes.
type envelopeFixer struct {
	quote, escape bool
	lit           int64  // literal bytes left to pass untouched
	tail          []byte // last unquoted bytes: "ENVELOPE " and "{n}\r"
	depth         int    // parenthesis depth inside an ENVELOPE, 0 outside
	heldSP        bool   // a space inside an address list, maybe dropped
}

var envelopeKey = []byte("ENVELOPE ")

// literal says whether all of p is literal data (a message's bytes in a
// FETCH), which passes as it is, and if so counts it as passed: most of
// the bytes of a full-body FETCH, which fix would copy byte run by byte
// run into a new buffer for every write.
func (f *envelopeFixer) literal(p []byte) bool {
	if f.heldSP || f.lit < int64(len(p)) {
		return false
	}
	f.lit -= int64(len(p))
	return true
}

// fix returns p rewritten (it may keep a held space for the next call).
func (f *envelopeFixer) fix(p []byte) []byte {
	out := make([]byte, 0, len(p)+1)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if f.lit > 0 {
			n := min(int64(len(p)-i), f.lit)
			out = append(out, p[i:i+int(n)]...)
			i += int(n) - 1
			f.lit -= n
			continue
		}
		if f.heldSP {
			f.heldSP = false
			if c != '(' {
				out = append(out, ' ')
			}
		}
		if f.quote {
			out = append(out, c)
			switch {
			case f.escape:
				f.escape = false
			case c == '\\':
				f.escape = true
			case c == '"':
				f.quote = false
			}
			continue
		}
		switch c {
		case '"':
			f.quote = true
		case '(':
			if f.depth > 0 {
				f.depth++
			} else if bytes.HasSuffix(f.tail, envelopeKey) {
				f.depth = 1
			}
		case ')':
			if f.depth > 0 {
				f.depth--
			}
		case ' ':
			if f.depth == 2 {
				f.heldSP = true // between the addresses of one list?
				f.keepTail(c)
				continue
			}
		case '\n':
			if n, _, ok := literalAtEnd(f.tail); ok && n > 0 {
				f.lit = n
			}
			f.tail = f.tail[:0]
			out = append(out, c)
			continue
		}
		f.keepTail(c)
		out = append(out, c)
	}
	return out
}

func (f *envelopeFixer) keepTail(c byte) {
	if len(f.tail) >= 64 {
		f.tail = append(f.tail[:0], f.tail[32:]...)
	}
	f.tail = append(f.tail, c)
}

package imap

import "bytes"

// refFixer is the first envelopeFixer, kept as the reference that
// FuzzEnvelopeFixerSame compares the faster one with.
type refFixer struct {
	quote, escape bool
	lit           int64
	tail          []byte
	depth         int
	heldSP        bool
}

func (f *refFixer) literal(p []byte) bool {
	if f.heldSP || f.lit < int64(len(p)) {
		return false
	}
	f.lit -= int64(len(p))
	return true
}

// fix is envelopeFixer.fix as it was before it skipped runs of bytes:
// byte by byte, into a new buffer.
func (f *refFixer) fix(p []byte) []byte {
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

func (f *refFixer) keepTail(c byte) {
	if len(f.tail) >= 64 {
		f.tail = append(f.tail[:0], f.tail[32:]...)
	}
	f.tail = append(f.tail, c)
}

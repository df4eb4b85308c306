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
	tail          []byte // the line's last bytes before this write (tailSize at most): "ENVELOPE " and "{n}\r"
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

// tailSize is how far back fix looks: "ENVELOPE " and the longest
// literal announcement literalAtEnd tells from a number ("{" 19 digits
// "+} \r") fit.
const tailSize = 32

// fix returns p rewritten (it may keep a held space for the next call).
// Most of p is passed as it is, so the result is p itself (a prefix of
// it, with a space held back) until a byte differs, and runs of bytes
// that cannot change anything (literal data, quoted strings, text outside
// an ENVELOPE) are skipped whole: this runs on every response a FETCH
// writes.
func (f *envelopeFixer) fix(p []byte) []byte {
	o := fixOut{p: p}
	line := 0 // where the current line's bytes start in p (0: maybe before it)
	var back [2 * tailSize]byte
	for i := 0; i < len(p); {
		if f.lit > 0 {
			n := int(min(int64(len(p)-i), f.lit))
			o.run(i, i+n)
			f.lit -= int64(n)
			i += n
			// What follows a literal looks back no further.
			f.tail = f.tail[:0]
			line = i
			continue
		}
		c := p[i]
		if f.heldSP {
			f.heldSP = false
			if c != '(' {
				o.byte(' ')
			}
		}
		if f.quote {
			if f.escape {
				f.escape = false
				o.byte(c)
				i++
				continue
			}
			j := quoteEnd(p[i:])
			if j < 0 {
				o.run(i, len(p))
				i = len(p)
				continue
			}
			o.run(i, i+j+1)
			if p[i+j] == '\\' {
				f.escape = true
			} else {
				f.quote = false
			}
			i += j + 1
			continue
		}
		if f.depth == 0 {
			// Outside an ENVELOPE only these start anything.
			j := outsideStop(p[i:])
			if j < 0 {
				j = len(p) - i
			}
			if j > 0 {
				o.run(i, i+j)
				i += j
				continue
			}
		}
		switch c {
		case '"':
			f.quote = true
		case '(':
			if f.depth > 0 {
				f.depth++
			} else if bytes.HasSuffix(f.lookback(p, line, i, &back), envelopeKey) {
				f.depth = 1
			}
		case ')':
			if f.depth > 0 {
				f.depth--
			}
		case ' ':
			if f.depth == 2 {
				f.heldSP = true // between the addresses of one list?
				i++
				continue
			}
		case '\n':
			if n, _, ok := literalAtEnd(f.lookback(p, line, i, &back)); ok && n > 0 {
				f.lit = n
			}
			o.byte(c)
			i++
			f.tail = f.tail[:0]
			line = i
			continue
		}
		o.byte(c)
		i++
	}
	// The line's end, for the next write to look back on.
	if line == 0 {
		f.tail = append(f.tail, p[max(0, len(p)-tailSize):]...)
	} else {
		f.tail = append(f.tail[:0], p[line:]...)
	}
	if len(f.tail) > tailSize {
		f.tail = append(f.tail[:0], f.tail[len(f.tail)-tailSize:]...)
	}
	return o.bytes()
}

// lookback returns the current line's last bytes before p[i] (at least
// tailSize of them when the line has that many), line being where the
// line starts in p; buf holds them when they begin in an earlier write.
func (f *envelopeFixer) lookback(p []byte, line, i int, buf *[2 * tailSize]byte) []byte {
	if line > 0 || i >= tailSize || len(f.tail) == 0 {
		return p[max(line, i-tailSize):i]
	}
	return append(append(buf[:0], f.tail...), p[:i]...)
}

// fixOut is fix's output: p[:n] while nothing differs from p, then buf.
type fixOut struct {
	p   []byte
	n   int
	buf []byte
}

func (o *fixOut) diverge() {
	o.buf = append(make([]byte, 0, len(o.p)+1), o.p[:o.n]...)
}

func (o *fixOut) byte(c byte) {
	if o.buf == nil {
		if o.n < len(o.p) && o.p[o.n] == c {
			o.n++
			return
		}
		o.diverge()
	}
	o.buf = append(o.buf, c)
}

// run passes p[i:j] as it is.
func (o *fixOut) run(i, j int) {
	if o.buf == nil {
		if o.n == i {
			o.n = j
			return
		}
		o.diverge()
	}
	o.buf = append(o.buf, o.p[i:j]...)
}

func (o *fixOut) bytes() []byte {
	if o.buf == nil {
		return o.p[:o.n]
	}
	return o.buf
}

// quoteEnd is the index of the first '"' or '\\' of b, -1 if none
// (bytes.IndexAny builds its byte set anew on every call).
func quoteEnd(b []byte) int {
	for i, c := range b {
		if c == '"' || c == '\\' {
			return i
		}
	}
	return -1
}

// outsideStop is the index of the first byte of b that matters outside
// an ENVELOPE ('"', '(' or '\n'), -1 if none.
func outsideStop(b []byte) int {
	for i, c := range b {
		if c == '"' || c == '(' || c == '\n' {
			return i
		}
	}
	return -1
}

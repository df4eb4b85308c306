package imap

// FeedLimiter runs in through a command limiter in chunks of chunk bytes
// and returns what the library would read (for the fuzz target).
func FeedLimiter(in []byte, chunk int, maxLiteral int64) []byte {
	l := cmdLimiter{maxLiteral: maxLiteral}
	var out []byte
	for len(in) > 0 {
		n := min(chunk, len(in))
		o, _, bye := l.feed(in[:n])
		out = append(out, o...)
		if bye {
			break
		}
		in = in[n:]
	}
	return out
}

package imap

// literalAtEnd reads the literal announcement a line ends with, the one
// parser for every filter in front of imapserver (blank filter, command
// limiter, front filter): they must agree with each other and with the
// library on where a literal's data starts, or a filter passes command
// lines as literal data unexamined (or examines message data as commands).
//
// The grammar is the library's (imapwire.Decoder.LiteralReader and CRLF):
// "{" 1*DIGIT ["+"] "}" [SP] [CR] LF, RFC 3501 literal with RFC 7888's
// non-synchronizing "+" (LITERAL- uses the same "+"; "{n-}" is no literal
// to the library, so none here either). line may end with the LF or not.
//
// ok reports a literal; size is -1 when the number has more than 19 digits
// (over an int64 the library refuses the line; leading zeros beyond that
// would not fit the 32-byte line tails the filters keep): the limiter
// answers it as too big.
func literalAtEnd(line []byte) (size int64, nonSync, ok bool) {
	i := len(line)
	if i > 0 && line[i-1] == '\n' {
		i--
	}
	if i > 0 && line[i-1] == '\r' {
		i--
	}
	if i > 0 && line[i-1] == ' ' {
		i--
	}
	if i == 0 || line[i-1] != '}' {
		return 0, false, false
	}
	i--
	if i > 0 && line[i-1] == '+' {
		nonSync = true
		i--
	}
	end := i
	for i > 0 && line[i-1] >= '0' && line[i-1] <= '9' {
		i--
	}
	if i == end || i == 0 || line[i-1] != '{' {
		return 0, false, false
	}
	if end-i > 19 {
		return -1, nonSync, true
	}
	const maxInt64 = 1<<63 - 1
	for _, c := range line[i:end] {
		d := int64(c - '0')
		if size > (maxInt64-d)/10 {
			return -1, nonSync, true
		}
		size = size*10 + d
	}
	return size, nonSync, true
}

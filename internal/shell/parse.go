package shell

import (
	"errors"
	"strings"
)

type redirect struct {
	path   string
	append bool
}

// parse splits a command line into words, with "..." and '...' quoting,
// backslash escapes outside single quotes, and one > or >> redirection of
// standard output.
func parse(line string) ([]string, redirect, error) {
	var (
		words    []string
		r        redirect
		cur      strings.Builder
		inWord   bool
		wantDst  bool // the next word is the redirection target
		emptyDst bool
	)
	flush := func() {
		if !inWord {
			return
		}
		if wantDst {
			r.path = cur.String()
			wantDst = false
			emptyDst = r.path == "" // > '' names no file
		} else {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, r, errors.New("unterminated ' quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, r, errors.New(`unterminated " quote`)
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '>':
			flush()
			if r.path != "" || wantDst {
				return nil, r, errors.New("only one > or >> redirection is supported")
			}
			if i+1 < len(line) && line[i+1] == '>' {
				r.append = true
				i++
			}
			wantDst = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	if wantDst || emptyDst {
		return nil, redirect{}, errors.New("syntax error: a file name is expected after >")
	}
	return words, r, nil
}

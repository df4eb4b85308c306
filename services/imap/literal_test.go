package imap

import (
	"strconv"
	"strings"
	"testing"
)

func TestLiteralAtEnd(t *testing.T) {
	tests := []struct {
		line    string
		size    int64
		nonSync bool
		ok      bool
	}{
		{"a APPEND INBOX {5}\r\n", 5, false, true},
		{"a APPEND INBOX {5}\n", 5, false, true},
		{"a APPEND INBOX {5}", 5, false, true},
		{"a APPEND INBOX {5} \r\n", 5, false, true}, // the library accepts SP before CRLF
		{"a LOGIN {0}\r\n", 0, false, true},
		{"a LOGIN {007+}\r\n", 7, true, true},
		{"a SEARCH TEXT {4097+}\r\n", 4097, true, true},
		{"x LOGIN {99999999999999999999}\r\n", -1, false, true},
		{"x LOGIN {9223372036854775807}\r\n", 9223372036854775807, false, true},
		{"x LOGIN {9223372036854775808+}\r\n", -1, true, true},
		{"x LOGIN {00000000000000000005}\r\n", -1, false, true},
		{"x LOGIN {0000000000000000005}\r\n", 5, false, true},
		// Not literals, to the library either.
		{"a LOGIN {5-}\r\n", 0, false, false},
		{"a LOGIN {}\r\n", 0, false, false},
		{"a LOGIN {+}\r\n", 0, false, false},
		{"a LOGIN {-5}\r\n", 0, false, false},
		{"a LOGIN {5++}\r\n", 0, false, false},
		{"a LOGIN { 5}\r\n", 0, false, false},
		{"a LOGIN {5 }\r\n", 0, false, false},
		{"a LOGIN 5}\r\n", 0, false, false},
		{"a LOGIN {5}x\r\n", 0, false, false},
		{"a LOGIN {5}\r\r\n", 0, false, false},
		{"a LOGIN {5}  \r\n", 0, false, false},
		{"}", 0, false, false},
		{"{}", 0, false, false},
		{"", 0, false, false},
		{"\r\n", 0, false, false},
	}
	for _, tt := range tests {
		size, nonSync, ok := literalAtEnd([]byte(tt.line))
		if size != tt.size || nonSync != tt.nonSync || ok != tt.ok {
			t.Errorf("%q: (%d, %v, %v), want (%d, %v, %v)", tt.line, size, nonSync, ok, tt.size, tt.nonSync, tt.ok)
		}
	}
}

// FuzzLiteral checks literalAtEnd against a plain restatement of the
// library's grammar.
func FuzzLiteral(f *testing.F) {
	for _, s := range []string{"a {5}\r\n", "{5+}", "{5-}\n", "{99999999999999999999}", "{ 5}", "{5} \r\n", "}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		size, nonSync, ok := literalAtEnd(line)
		s := string(line)
		s = strings.TrimSuffix(s, "\n")
		s = strings.TrimSuffix(s, "\r")
		s = strings.TrimSuffix(s, " ")
		wantOK := false
		if body, found := strings.CutSuffix(s, "}"); found {
			open := strings.LastIndexByte(body, '{')
			if open >= 0 {
				num, plus := strings.CutSuffix(body[open+1:], "+")
				if num != "" && strings.Trim(num, "0123456789") == "" {
					wantOK = true
					want, err := strconv.ParseInt(num, 10, 64)
					if err != nil || len(num) > 19 {
						want = -1
					}
					if size != want || nonSync != plus {
						t.Fatalf("%q: (%d, %v), want (%d, %v)", line, size, nonSync, want, plus)
					}
				}
			}
		}
		if ok != wantOK {
			t.Fatalf("%q: ok %v, want %v", line, ok, wantOK)
		}
	})
}

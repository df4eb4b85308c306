package shell

import (
	"strings"
	"testing"
)

// FuzzParse feeds command lines to the lab shell's parser. Invariants: no
// panic; a line that parses, with its words re-quoted in single quotes,
// parses back to the same words and redirection.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`ls -l /`, `echo "a b" 'c d' e\ f > out.txt`, `cat x >> "log file"`,
		`echo "unterminated`, `echo 'x`, `a > b > c`, `echo >`, `"\"\\" \`, `''`, "a\tb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, r, err := parse(line)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, w := range words {
			b.WriteString(quote(w) + " ")
		}
		if r.path != "" {
			if r.append {
				b.WriteString(">>")
			} else {
				b.WriteString(">")
			}
			b.WriteString(quote(r.path))
		}
		words2, r2, err := parse(b.String())
		if err != nil {
			t.Fatalf("%q parsed as %q %+v; re-quoted %q fails: %v", line, words, r, b.String(), err)
		}
		if strings.Join(words2, "\x00") != strings.Join(words, "\x00") || len(words2) != len(words) || r2 != r {
			t.Fatalf("%q parsed as %q %+v; re-quoted %q parses as %q %+v", line, words, r, b.String(), words2, r2)
		}
	})
}

// quote single-quotes s; a ' inside is written '\” as in sh.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

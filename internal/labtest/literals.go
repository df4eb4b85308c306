package labtest

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Literal is a Go string literal found in a source file.
type Literal struct {
	File, Text string
}

// Literals finds, in the non-test Go files of the test's package
// directory, every match of re, whose first group must be a quoted Go
// string, and returns it unquoted. Catalog tests use it to fail on a
// message that was not translated.
func Literals(t testing.TB, re *regexp.Regexp) []Literal {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []Literal
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			s, err := strconv.Unquote(m[1])
			if err != nil {
				t.Fatalf("%s: %s: %v", f, m[1], err)
			}
			out = append(out, Literal{File: f, Text: s})
		}
	}
	return out
}

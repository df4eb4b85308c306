package shell

import (
	"bytes"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// FuzzPrepare feeds command lines to the parser and to prepare, which
// rewrites the syntax tree (limit checks in loops and after assignments)
// and refuses what the lab shell does not run. Invariants: no panic, the
// rewritten tree prints, and parses again when the original did.
func FuzzPrepare(f *testing.F) {
	for _, seed := range []string{
		"ls | grep x | wc -l", "a=$a$a; while :; do a=$a$a; done", "for ((;;)); do i=1; done",
		"f() { f | f; }; f", "cat <<EOF\nx $USER\nEOF", "echo {1..10}{a,b}", "cat <(ls)",
		"export A=1 B=$(seq 3)", "case $x in a*) :;; esac", "x=1 y=2 env", "[[ -f a ]] && echo y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if len(line) > 4096 {
			return
		}
		file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
		if err != nil {
			return
		}
		// The library's printer does not round-trip every tree ("!\f";
		// "A=\f" prints as "A=" and two line ends, which parse, but a
		// rewrite then puts "&&" at the start of a line): only trees that
		// print, parse and print the same again are checked after the
		// rewrite.
		var orig bytes.Buffer
		if syntax.NewPrinter().Print(&orig, file) != nil {
			return
		}
		again, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(orig.Bytes()), "")
		if err != nil {
			return
		}
		var twice bytes.Buffer
		if syntax.NewPrinter().Print(&twice, again) != nil || twice.String() != orig.String() {
			return
		}
		if err := prepare(file); err != nil {
			return
		}
		var b bytes.Buffer
		if err := syntax.NewPrinter().Print(&b, file); err != nil {
			t.Fatalf("print after prepare: %v", err)
		}
		if _, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(b.Bytes()), ""); err != nil {
			t.Fatalf("the rewritten line %q does not parse: %v", b.String(), err)
		}
	})
}

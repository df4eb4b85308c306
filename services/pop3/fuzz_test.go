package pop3

import (
	"bufio"
	"bytes"
	"testing"

	"labd/internal/memconn"
)

// FuzzReadLine feeds client bytes to the POP3 command reader. Invariants:
// no panic; every line returned is at most maxLine octets, has no LF and
// no trailing CR; a line too long is answered with -ERR and skipped; the
// reader never returns more lines than the input has LFs.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("USER alice\r\nPASS alice\nSTAT\r\n"))
	f.Add(append(bytes.Repeat([]byte("A"), maxLine+1), "\r\nNOOP\r\n"...))
	f.Add(append(bytes.Repeat([]byte("B"), readBuffer*2), "\nQUIT\n"...))
	f.Add([]byte("\r\r\n\n\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := memconn.New(in)
		p := &conn{s: &Service{}, c: src, br: bufio.NewReaderSize(src, readBuffer), bw: bufio.NewWriter(src)}
		lines, skipped := 0, 0
		for {
			line, err := p.readLine()
			if err != nil {
				break
			}
			if line == nil {
				skipped++
				continue
			}
			lines++
			if len(line) > maxLine || bytes.IndexByte(line, '\n') >= 0 || bytes.HasSuffix(line, []byte("\r")) {
				t.Fatalf("readLine returned %q", line)
			}
		}
		if lf := bytes.Count(in, []byte("\n")); lines+skipped > lf {
			t.Fatalf("%d lines and %d skipped from %d LFs", lines, skipped, lf)
		}
		_ = p.bw.Flush()
		if got, want := bytes.Count(src.Out.Bytes(), []byte("-ERR line too long")), skipped; got != want {
			t.Fatalf("%d too-long answers for %d skipped lines", got, want)
		}
	})
}

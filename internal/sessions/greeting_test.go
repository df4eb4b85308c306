package sessions

import (
	"fmt"
	"testing"
)

// A session that starts with the server's greeting keeps room for that
// one entry only until the next (idle connections wait with it), and
// keeps every entry, in order, as one opened by the client does.
func TestTranscriptAfterGreeting(t *testing.T) {
	for _, first := range []Direction{FromServer, FromClient} {
		r := New(Options{})
		s := r.Open("imap", "tcp", "127.0.0.1:143", "127.0.0.1:5000")
		var want []string
		for i := range 12 {
			dir := first
			if i%2 == 1 {
				dir = 1 - first
			}
			text := fmt.Sprintf("line %d\r\n", i)
			s.Record(dir, []byte(text), false)
			want = append(want, dir.String()+" "+text)
			if i == 0 && first == FromServer && cap(s.entries) != 1 {
				t.Errorf("room for %d entries after a greeting", cap(s.entries))
			}
		}
		tr := s.Transcript()
		if len(tr) != len(want) {
			t.Fatalf("%v first: %d entries, want %d", first, len(tr), len(want))
		}
		for i, e := range tr {
			if got := e.Dir.String() + " " + string(e.Data); got != want[i] {
				t.Errorf("%v first: entry %d = %q, want %q", first, i, got, want[i])
			}
		}
	}
}

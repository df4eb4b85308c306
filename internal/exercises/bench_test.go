package exercises

import (
	"fmt"
	"testing"
	"time"

	"labd/internal/sessions"
)

// BenchmarkSessionHandling is a session's life in the registry (open,
// an SMTP exchange recorded, close) without and with the tracker and the
// built-in pack: the difference is what exercises add to session handling
// (the evaluation itself runs in the tracker's goroutine; it is included
// here by waiting for it, so the figure is the whole cost).
func BenchmarkSessionHandling(b *testing.B) {
	ex, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	tr := exchange(time.Millisecond, false, smtpByHand...)
	for _, withPack := range []bool{false, true} {
		b.Run(fmt.Sprintf("pack=%v", withPack), func(b *testing.B) {
			reg := sessions.New(sessions.Options{History: 1000})
			var t *Tracker
			if withPack {
				t = NewTracker(ex, reg, "", func(u string) bool { return u == "alice" })
				defer t.Close()
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s := reg.Open("smtp", "tcp", "127.0.0.1:25", "127.0.0.1:40000")
				for _, e := range tr {
					s.Record(e.Dir, e.Data, false)
				}
				s.Close("closed")
			}
			if t != nil {
				t.Wait()
			}
		})
	}
}

// BenchmarkEvaluatePack is one finished session against the 14 exercises.
func BenchmarkEvaluatePack(b *testing.B) {
	ex, _ := Builtin()
	r := Record{Info: sessions.Info{Proto: "smtp"}, Transcript: exchange(time.Millisecond, false, smtpByHand...)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rec := Record{Info: r.Info, Transcript: r.Transcript}
		for j := range ex {
			ex[j].When.match(&rec)
		}
	}
}

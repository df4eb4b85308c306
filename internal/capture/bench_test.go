package capture_test

import (
	"io"
	"testing"
	"time"

	"labd/internal/capture"
	"labd/internal/sessions"
)

// BenchmarkWrite exports 100 sessions of 64 KiB each (a full transcript
// bound), the size of a class capture of a busy lab hour.
//
//	go test -run ^$ -bench Write ./internal/capture
func BenchmarkWrite(b *testing.B) {
	t0 := time.Now()
	var ss []capture.Session
	total := 0
	for i := range 100 {
		in := sessions.Info{ID: uint64(i + 1), Proto: "http", Transport: "tcp", Local: "127.0.0.1:80", Remote: "127.0.0.1:40000", Start: t0, End: t0.Add(time.Second)}
		var es []sessions.Entry
		for j := range 64 {
			es = append(es, sessions.Entry{Time: t0.Add(time.Duration(j) * time.Millisecond), Dir: sessions.Direction(j % 2), Data: make([]byte, 1024)})
			total += 1024
		}
		ss = append(ss, capture.Session{Info: in, Entries: es})
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		if err := capture.Write(io.Discard, ss); err != nil {
			b.Fatal(err)
		}
	}
}

package sessions

import (
	"testing"
)

// BenchmarkRecordExchange is the registry's share of a packed DNS answer
// (services/dns/packed.go): one finished exchange recorded per query, from
// as many goroutines as there are cores, with the default history (1,000
// per protocol) long full, as under dnsperf.
//
//	go test -run '^$' -bench RecordExchange -benchmem ./internal/sessions
func BenchmarkRecordExchange(b *testing.B) {
	r := New(Options{})
	attrs := map[string]string{"name": "www.lab.test.", "type": "A", "rcode": "NOERROR"}
	query := []byte("QUERY www.lab.test. IN A id=4711 rd edns=1232")
	answer := []byte("NOERROR flags: qr aa rd; www.lab.test. 300 IN A 127.0.0.1")
	qwire, awire := make([]byte, 41), make([]byte, 57)
	x := Exchange{Proto: "dns", Transport: "udp", Local: "127.0.0.1:53", Remote: "127.0.0.1:40000",
		Attrs: attrs, Query: query, QueryWire: qwire, Answer: answer, AnswerWire: awire,
		BytesIn: 41, BytesOut: 57, Result: "noerror"}
	for range 2000 {
		r.RecordExchange(&x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		x := x
		for pb.Next() {
			r.RecordExchange(&x)
		}
	})
}

package metrics

import "github.com/prometheus/client_golang/prometheus"

// SessionLog exports the counts of the shared session log's recorder
// (internal/sessionlog, PostgreSQL only): a growing dropped count says the
// database does not keep up with the sessions, or is away.
func (m *Metrics) SessionLog(written, dropped func() uint64) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "labd_session_log_written_total",
			Help: "Session summaries written to the shared session log."}, func() float64 { return float64(written()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "labd_session_log_dropped_total",
			Help: "Session events not written to the shared session log: its queue was full, or the database refused the batch."}, func() float64 { return float64(dropped()) }),
	)
}

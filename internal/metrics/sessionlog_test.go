package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"labd/internal/metrics"
)

func TestSessionLogCounters(t *testing.T) {
	m := metrics.New(nil, nil, "test")
	m.SessionLog(func() uint64 { return 7 }, func() uint64 { return 2 })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"labd_session_log_written_total 7", "labd_session_log_dropped_total 2"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

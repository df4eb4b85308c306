package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"labd/internal/labtest"
	"labd/internal/metrics"
	"labd/internal/store"
)

// A delivery moves the store's commit latency and batch size histograms.
func TestDeliveryFeedsCommitHistograms(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "labd.db"), store.Options{BcryptCost: labtest.BcryptCost})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := metrics.New(nil, st, "test")
	scrapeHandler := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return string(b)
	}
	before := scrapeHandler()
	if err := st.CreateUser(context.Background(), "alice", "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := st.Deliver(context.Background(), []string{"alice"}, []byte("Subject: x\r\n\r\nx\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	after := scrapeHandler()
	for _, series := range []string{"labd_store_commit_seconds_count", "labd_store_commit_batch_size_count", "labd_store_commit_batch_size_sum"} {
		if b, a := value(before, series), value(after, series); a < b+2 {
			t.Errorf("%s went from %v to %v over a user creation and a delivery, want +2", series, b, a)
		}
	}
	if value(after, "labd_store_commit_seconds_sum") <= 0 {
		t.Errorf("labd_store_commit_seconds_sum is %v", value(after, "labd_store_commit_seconds_sum"))
	}
}

// The daemon wires its store to the histograms: a delivery on a running
// labd shows in its scrape.
func TestDaemonStoreFeedsCommitHistograms(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	maddr := d.Addr(t, "metrics", "tcp")
	before := value(scrape(t, maddr), "labd_store_commit_batch_size_sum")
	if err := d.Deps.Store.Deliver(context.Background(), []string{"alice"}, []byte("Subject: x\r\n\r\nx\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if after := value(scrape(t, maddr), "labd_store_commit_batch_size_sum"); after < before+1 {
		t.Errorf("labd_store_commit_batch_size_sum went from %v to %v over a delivery", before, after)
	}
}

package smtp_test

import (
	"os"
	"testing"

	"labd/internal/labtest"
)

// TestMain stops the PostgreSQL server BenchmarkDeliveries8 may start.
func TestMain(m *testing.M) {
	code := m.Run()
	labtest.StopPostgres()
	os.Exit(code)
}

package budget_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"labd/internal/budget"
)

func TestReaderStopsAtTheBudgetAndGivesBack(t *testing.T) {
	b := budget.New(100)
	r1 := budget.NewReader(bytes.NewReader(make([]byte, 60)), b)
	if _, err := io.ReadAll(r1); err != nil {
		t.Fatal(err)
	}
	r2 := budget.NewReader(bytes.NewReader(make([]byte, 60)), b)
	if _, err := io.ReadAll(r2); !errors.Is(err, budget.ErrExhausted) || !r2.Exhausted() {
		t.Fatalf("second 60 bytes in a budget of 100: %v", err)
	}
	r2.Close()
	r1.Close()
	if b.Used() != 0 {
		t.Errorf("%d bytes still held after Close", b.Used())
	}
	r3 := budget.NewReader(bytes.NewReader(make([]byte, 100)), b)
	if _, err := io.ReadAll(r3); err != nil {
		t.Errorf("100 bytes once the others gave back: %v", err)
	}
	r3.Close()
	var none *budget.Budget
	if !none.TryAcquire(1 << 40) {
		t.Error("a nil budget limits")
	}
}

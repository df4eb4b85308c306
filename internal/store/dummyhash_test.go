package store

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The precomputed dummy hash is a valid hash of the default cost, so an
// unknown user's login costs what a wrong password costs.
func TestDummyHashCost(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, bcrypt.DefaultCost} {
		h, err := dummyHashFor(cost)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := bcrypt.Cost(h); err != nil || got != cost {
			t.Errorf("cost %d: hash has cost %d (%v)", cost, got, err)
		}
		if err := bcrypt.CompareHashAndPassword(h, []byte("labd-dummy")); err != nil {
			t.Errorf("cost %d: %v", cost, err)
		}
	}
}

package store

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// defaultDummyHash is bcrypt("labd-dummy") at bcrypt.DefaultCost, made
// once: generating it cost every start of the daemon a full bcrypt round
// (60-300 ms, most of labd's startup). It only has to cost as much to
// compare as a real hash; what it hashes is no secret.
const defaultDummyHash = "$2a$10$AUv8Ll41V5PstA2gBR26qeiBkrzGqcV9t3QsVFyDUsyFIotLfN0He"

// dummyHashFor returns a bcrypt hash of the given cost for logins of
// unknown users.
func dummyHashFor(cost int) ([]byte, error) {
	if cost == bcrypt.DefaultCost {
		return []byte(defaultDummyHash), nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte("labd-dummy"), cost)
	if err != nil {
		return nil, fmt.Errorf("bcrypt cost %d: %w", cost, err)
	}
	return h, nil
}

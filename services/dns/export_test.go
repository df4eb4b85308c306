package dns

import "time"

// Test hooks for the external tests (package dns_test, which can use
// labtest without an import cycle).

// BigCount is the number of A records of big.<domain>.
const BigCount = bigCount

// SetClock replaces the clock of the cache and the rate limiter; call it
// before Bind.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

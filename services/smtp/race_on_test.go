//go:build race

package smtp_test

// raceOn: the race detector multiplies memory use, so RSS bounds do not
// hold under it.
const raceOn = true

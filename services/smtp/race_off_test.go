//go:build !race

package smtp_test

const raceOn = false

package faults_test

import (
	"context"
	"os/exec"
	"time"
)

// runExit runs a client whose failure is the expected outcome.
func runExit(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

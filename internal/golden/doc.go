// Package golden holds no code: its test runs the whole daemon, plays one
// scripted exchange per protocol and compares what a student sees on the
// wire with testdata/<proto>.txt, so that any change to a reply is a
// reviewed diff. `go test ./internal/golden/ -update` rewrites the files.
package golden

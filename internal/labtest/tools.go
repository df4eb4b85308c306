package labtest

import (
	"bufio"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RunTool runs an external client (see Tool: skipped locally when missing,
// required in CI) and returns its combined output; a non-zero exit fails
// the test, and so does a client still running after a minute.
func RunTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, Tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Port returns the port of a host:port address, as clients such as dig
// and curl want it.
func Port(t testing.TB, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// RunToolPaused runs an external client (see Tool) that stops halfway to
// let the test act: it prints a line "ready" and waits for a line on its
// standard input. RunToolPaused returns once it is ready; resume sends
// the line and returns what the client printed after "ready", failing the
// test if it exits with an error or runs for more than a minute.
func RunToolPaused(t testing.TB, name string, args ...string) (resume func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, Tool(t, name), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	out := bufio.NewReader(stdout)
	if l, err := out.ReadString('\n'); l != "ready\n" {
		t.Fatalf("%s: %q instead of ready (%v)\n%s", name, l, err, stderr.String())
	}
	return func() string {
		t.Helper()
		_, _ = io.WriteString(stdin, "\n")
		rest, _ := io.ReadAll(out)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v\n%s%s", name, err, rest, stderr.String())
		}
		return string(rest)
	}
}

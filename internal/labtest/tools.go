package labtest

import (
	"context"
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

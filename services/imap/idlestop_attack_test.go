package imap_test

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownNotHeldByClientNotReading: a client that pipelines commands
// the front filter answers itself (FETCH 0) and never reads its answers
// leaves the filter blocked writing one, for up to the 30 s write
// deadline, and again for the next one if it reads a little now and
// then. The stop must not wait for that: the drain ends such a
// connection at the end of the grace period, as it ends any other.
func TestShutdownNotHeldByClientNotReading(t *testing.T) {
	const grace = time.Second
	e, stop := startStoppableGrace(t, grace)
	c, _, _ := dialMode(t, e, "plaintext")
	chunk := bytes.Repeat([]byte("x FETCH 0\r\n"), 4096)
	var wrote atomic.Int64 // unix nanoseconds of the last write done
	wrote.Store(time.Now().UnixNano())
	go func() {
		// Until the server stops reading (blocked writing its answers),
		// then until the connection is closed.
		for {
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := c.Write(chunk); err != nil {
				return
			}
			wrote.Store(time.Now().UnixNano())
		}
	}()
	// Both socket buffers full: no write done for 2 s.
	for deadline := time.Now().Add(time.Minute); time.Since(time.Unix(0, wrote.Load())) < 2*time.Second; {
		if time.Now().After(deadline) {
			t.Fatal("the server still reads after a minute of answers never read")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := stop(); d > grace+10*time.Second {
		t.Errorf("the stop took %v with a grace period of %v: held by a client that does not read", d, grace)
	}
	waitNoLive(t, e.deps.Sessions)
}

package labtest

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes on a fresh directory and returns
// it, unmounted when the test ends: a disk that fills up on purpose. It
// needs root (CI runs as root); elsewhere the test is skipped, or fails
// when LABD_REQUIRE_TOOLS=1.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10)+",mode=0755", "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("LABD_REQUIRE_TOOLS") == "1" {
			t.Fatalf("cannot mount a small tmpfs (%v: %s): this test needs root, as CI has", err, out)
		}
		t.Skipf("cannot mount a small tmpfs (%v: %s): skipping the disk-full test (CI runs it as root)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

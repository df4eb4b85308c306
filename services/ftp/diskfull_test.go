package ftp_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"labd/config"
	"labd/internal/labtest"
)

// TestDiskFullLeavesNoPartial: on a disk that fills up during a STOR, the
// upload fails, the file it was replacing keeps its old content, a new
// name does not appear, no temporary file stays behind, and the space is
// free again for the next upload.
func TestDiskFullLeavesNoPartial(t *testing.T) {
	disk := labtest.SmallFS(t, 3<<20)
	e := start(t, func(c *config.Config) {
		c.Server.DataDir = filepath.Join(disk, "data")
		c.FTP.MaxFileBytes = 0
		c.FTP.QuotaBytes = 0
	})
	c := e.dial(t, "alice", "alice")
	old := []byte("the homework before the upload\n")
	if err := c.Stor("keep.txt", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	big := payload(6 << 20)
	if err := c.Stor("keep.txt", bytes.NewReader(big)); err == nil {
		t.Fatal("a 6 MB upload to a 3 MB disk succeeded")
	} else {
		t.Logf("replacing upload on a full disk: %v", err)
	}
	c2 := e.dial(t, "alice", "alice")
	if err := c2.Stor("new.bin", bytes.NewReader(big)); err == nil {
		t.Fatal("a second 6 MB upload succeeded")
	}
	if got, err := os.ReadFile(e.home("alice", "keep.txt")); err != nil || !bytes.Equal(got, old) {
		t.Errorf("keep.txt after the failed upload: %d bytes, %v; want its old content", len(got), err)
	}
	if _, err := os.Stat(e.home("alice", "new.bin")); err == nil {
		t.Error("new.bin exists after its upload failed")
	}
	entries, _ := os.ReadDir(e.home("alice"))
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".labd-upload-") {
			t.Errorf("temporary file %s left behind", en.Name())
		}
	}
	c3 := e.dial(t, "alice", "alice")
	if err := c3.Stor("small.txt", bytes.NewReader(payload(512<<10))); err != nil {
		t.Errorf("a 512 KB upload after the failures (the space must be free again): %v", err)
	}
}

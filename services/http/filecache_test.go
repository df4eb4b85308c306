package http_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A small file is served from memory once read, but an edit (even one
// that keeps its size), a replacement or a removal is seen at once.
func TestSmallFileCacheFollowsEdits(t *testing.T) {
	e := start(t)
	file := filepath.Join(e.deps.Layout.Home("alice"), "public_html", "tp.txt")
	get := func() string {
		resp := raw(t, e.plain, "GET /~alice/tp.txt HTTP/1.0\r\n\r\n")
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		return strings.TrimSpace(firstLine(resp)) + " " + body
	}
	steps := []struct {
		change func() error
		want   string
	}{
		{func() error { return os.WriteFile(file, []byte("version 1"), 0o644) }, "200 OK version 1"},
		{func() error { return nil }, "200 OK version 1"},
		{func() error { return os.WriteFile(file, []byte("version 2"), 0o644) }, "200 OK version 2"},
		{func() error {
			tmp := file + ".new"
			if err := os.WriteFile(tmp, []byte("version 3"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, file)
		}, "200 OK version 3"},
		{func() error { return os.Chmod(file, 0) }, "403"},
		{func() error { return os.Remove(file) }, "404"},
	}
	for i, s := range steps {
		if err := s.change(); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && s.want == "403" {
			continue // root reads a mode-0 file anyway
		}
		if got := get(); !strings.Contains(got, s.want) {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
}

package fsroot

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestResolveRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "sub", "ok.txt"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(root, "link-out"))
	os.Symlink(filepath.Join(outside, "nothing-yet"), filepath.Join(root, "dangling"))
	os.Symlink("sub", filepath.Join(root, "link-in"))
	tests := []struct {
		name string
		ok   bool
	}{
		{"sub/ok.txt", true},
		{"sub/new-file", true},
		{"link-in/ok.txt", true},
		{"../x", false},
		{"sub/../../x", false},
		{"/etc/passwd", false},
		{"link-out/secret", false},
		{"link-out/new", false},
		{"dangling", false},
		{"", false},
	}
	for _, tc := range tests {
		_, err := Resolve(root, tc.name)
		if tc.ok && err != nil {
			t.Errorf("%q refused: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrEscape) {
			t.Errorf("%q: want ErrEscape, got %v", tc.name, err)
		}
	}
}

func TestJoinStaysInVirtualRoot(t *testing.T) {
	for _, tc := range [][3]string{
		{"/", "..", "/"},
		{"/a/b", "../../../etc", "/etc"},
		{"/a", "b/./c", "/a/b/c"},
		{"/a", "/x", "/x"},
	} {
		if got := Join(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Join(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
	if Rel("/") != "." || Rel("/a/b") != "a/b" {
		t.Error("Rel")
	}
}

func TestLayoutHomes(t *testing.T) {
	l := Layout{DataDir: t.TempDir()}
	if err := l.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := l.EnsureHome("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.Home("alice"), "public_html", "index.html")); err != nil {
		t.Error(err)
	}
	if err := l.EnsureHome("../evil"); !errors.Is(err, ErrEscape) {
		t.Errorf("home outside home/: %v", err)
	}
}

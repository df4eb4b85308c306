package fsroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestIsEscape(t *testing.T) {
	if rootEscape() == nil {
		t.Fatal("os.Root's escape error could not be obtained: IsEscape only knows ErrEscape")
	}
	root := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.Symlink(outside, filepath.Join(root, "link-out"))
	os.Symlink("sub", filepath.Join(root, "link-in"))
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		name   string
		escape bool
	}{
		{"../x", true},
		{"sub/../../x", true},
		{"/etc/passwd", true},
		{"link-out/secret", true},
		{"link-in/missing", false},
		{"missing", false},
	} {
		_, err := r.Open(tc.name)
		if got := IsEscape(err); got != tc.escape {
			t.Errorf("os.Root Open(%q): IsEscape(%v) = %v, want %v", tc.name, err, got, tc.escape)
		}
	}
	// Through os.Root's rename (a *os.LinkError) and wrapped with %w.
	os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644)
	if err := r.Rename("f", "../f"); !IsEscape(err) {
		t.Errorf("Rename out of the root: IsEscape(%v) = false", err)
	}
	if !IsEscape(fmt.Errorf("put x: %w", ErrEscape)) || IsEscape(nil) || IsEscape(errors.New("path escapes from parent")) {
		t.Error("IsEscape: ErrEscape wrapped must match; nil and a mere look-alike text must not")
	}
}

func TestRel(t *testing.T) {
	if Rel("/") != "." || Rel("/a/b") != "a/b" || Rel("a/../..") != "." {
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

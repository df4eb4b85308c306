package ftp

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestReplaceFile: a finished upload takes the place of an existing file
// or a new name; a directory that took the name meanwhile is left alone
// and the upload fails, as a rename over it would.
func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	put := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return string(b)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// What a teacher may have left in a student's directory: symlinks out
	// of it, and one inside it.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "target"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"out.txt": filepath.Join(outside, "target"), "outdir": outside, "via": "sub",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, tmp, dst, old string
		dstIsDir, wantErr   bool
	}{
		// The link itself is replaced, as a rename over it does; what it
		// pointed to is untouched (checked after the table).
		{name: "over a symlink out of the root", tmp: ".labd-upload-5", dst: "out.txt"},
		{name: "over a symlink to a directory out of the root", tmp: ".labd-upload-6", dst: "outdir"},
		{name: "through a symlinked directory inside the root", tmp: "via/.labd-upload-7", dst: "via/e.txt", old: "old"},
		{name: "over an existing file", tmp: ".labd-upload-1", dst: "a.txt", old: "old"},
		{name: "a new name", tmp: ".labd-upload-2", dst: "b.txt"},
		{name: "in a subdirectory", tmp: "sub/.labd-upload-3", dst: "sub/c.txt", old: "old"},
		{name: "over a directory", tmp: ".labd-upload-4", dst: "d", dstIsDir: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			put(tc.tmp, "new "+tc.dst)
			if tc.old != "" {
				put(tc.dst, tc.old)
			}
			if tc.dstIsDir {
				if err := os.Mkdir(filepath.Join(dir, tc.dst), 0o755); err != nil {
					t.Fatal(err)
				}
				put(tc.dst+"/inside", "kept")
			}
			err := replaceFile(root, tc.tmp, tc.dst)
			if (err != nil) != tc.wantErr {
				t.Fatalf("replaceFile: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if got := read(tc.dst + "/inside"); got != "kept" {
					t.Errorf("the directory's file: %q", got)
				}
				if got := read(tc.tmp); got != "new "+tc.dst {
					t.Errorf("the upload after a failed replace: %q", got)
				}
				return
			}
			if got := read(tc.dst); got != "new "+tc.dst {
				t.Errorf("%s holds %q", tc.dst, got)
			}
			if _, err := os.Lstat(filepath.Join(dir, tc.tmp)); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", tc.tmp, err)
			}
			if fi, err := os.Lstat(filepath.Join(dir, tc.dst)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s is not a regular file: %v %v", tc.dst, fi.Mode(), err)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(outside, "target")); err != nil || string(b) != "outside" {
		t.Errorf("the file a replaced symlink pointed to holds %q (%v)", b, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("the directory out of the root holds %d entries, want 1", len(ents))
	}
	if got := read("sub/e.txt"); got != "new via/e.txt" {
		t.Errorf("sub/e.txt, written through the link: %q", got)
	}
}

// TestReplaceFileWhileRead: a download that has the old file open reads
// the old content to its end after an upload replaced it, and the name
// gives the new content at once.
func TestReplaceFileWhileRead(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	old := make([]byte, 1<<20)
	for i := range old {
		old[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".labd-upload-1"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	reader, err := root.Open("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := replaceFile(root, ".labd-upload-1", "f.bin"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f.bin")); err != nil || string(got) != "new" {
		t.Fatalf("f.bin after the replace: %q, %v", got, err)
	}
	got, err := io.ReadAll(reader)
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the open download read %d bytes (%v), want the old %d", len(got), err, len(old))
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("left in the directory: %v", names)
	}
}

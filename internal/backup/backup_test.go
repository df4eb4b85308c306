package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"labd/internal/fsroot"
)

// archive builds a tar stream with a manifest and the given entries.
func archive(t testing.TB, entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mj, _ := json.Marshal(Manifest{Format: 1})
	tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(mj)), Typeflag: tar.TypeReg})
	tw.Write(mj)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = 2
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("hi")[:h.Size])
		}
	}
	tw.Close()
	return buf.Bytes()
}

// A student cannot craft an archive that a teacher's restore unpacks
// outside the data directory.
func TestExtractRefusesEscapes(t *testing.T) {
	for name, h := range map[string]*tar.Header{
		"dotdot":         {Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"absolute":       {Name: "/tmp/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"nested dotdot":  {Name: "home/../../evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"symlink out":    {Name: "home/alice/l", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"},
		"symlink abs":    {Name: "home/alice/l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		"device":         {Name: "home/alice/dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		"control socket": {Name: "labd.sock", Typeflag: tar.TypeReg, Mode: 0o644},
		"hard link":      {Name: "home/alice/h", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Extract(context.Background(), bytes.NewReader(archive(t, h)), filepath.Join(dir))
			if err == nil {
				t.Fatalf("%s was extracted", h.Name)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Fatal("a file landed outside the directory")
			}
		})
	}
	// A link inside its tree is fine.
	dir := t.TempDir()
	_, err := Extract(context.Background(), bytes.NewReader(archive(t,
		&tar.Header{Name: "home/alice/a.txt", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "home/alice/b", Typeflag: tar.TypeSymlink, Linkname: "a.txt"})), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "home/alice/b")); err != nil || string(b) != "hi" {
		t.Errorf("inner link: %q %v", b, err)
	}
}

func TestExtractNeedsManifest(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "labd.db", Typeflag: tar.TypeReg, Size: 0})
	tw.Close()
	if _, err := Extract(context.Background(), &buf, t.TempDir()); err == nil {
		t.Error("an archive without a manifest was accepted")
	}
}

func TestRestoreRefusesExistingDatabase(t *testing.T) {
	dir := t.TempDir()
	layout := fsroot.Layout{DataDir: dir}
	os.WriteFile(layout.Database(), []byte("db"), 0o600)
	file := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(file, archive(t), 0o600)
	if _, err := Restore(context.Background(), layout, file, false); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("restore over a database: %v", err)
	}
}

// FuzzExtract: whatever the bytes, Extract never panics and never writes
// outside its directory.
func FuzzExtract(f *testing.F) {
	f.Add(archive(f, &tar.Header{Name: "home/alice/a.txt", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(archive(f, &tar.Header{Name: "home/x", Typeflag: tar.TypeSymlink, Linkname: "../.."}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "data")
		os.Mkdir(dir, 0o700)
		Extract(context.Background(), bytes.NewReader(b), dir)
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 {
			t.Fatalf("something was written beside the data directory: %v", entries)
		}
	})
}

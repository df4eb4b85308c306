// Package backup archives and restores a labd data directory: a
// consistent snapshot of the database taken while the daemon serves, the
// students' homes, pub/, and the TLS and SSH keys (so that a restored host
// keeps its CA and host keys), as a tar stream compressed with zstd
// (.tar.zst), gzip (.tar.gz) or not at all (.tar).
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"labd/internal/fsroot"
	"labd/internal/store"
)

// ManifestName is the archive's first entry.
const ManifestName = "labd-backup.json"

// ArchiveDir holds the archives class reset makes; it is not itself
// archived.
const ArchiveDir = "archives"

// Manifest says what an archive holds.
type Manifest struct {
	Format  int       `json:"format"`
	Version string    `json:"labd_version"`
	Created time.Time `json:"created"`
	Files   int       `json:"files"`
	Bytes   int64     `json:"bytes"`
	// Database is false when the store is not a SQLite file of the data
	// directory (PostgreSQL: back it up with pg_dump).
	Database bool `json:"database"`
}

// Compression picks the compressor from a file name.
func compressor(name string, w io.Writer) (io.WriteCloser, error) {
	switch {
	case strings.HasSuffix(name, ".tar.zst") || strings.HasSuffix(name, ".tzst"):
		return zstd.NewWriter(w)
	case strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz"):
		return gzip.NewWriter(w), nil
	case strings.HasSuffix(name, ".tar"):
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("backup %s: name it .tar.zst, .tar.gz or .tar", name)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// skip says which entries of the data directory are not archived: the live
// database files (the snapshot stands for them), the control socket, and
// earlier archives.
func skip(rel string) bool {
	switch rel {
	case "labd.db", "labd.db-wal", "labd.db-shm", "labd.db-journal", "labd.sock", ArchiveDir:
		return true
	}
	return strings.HasPrefix(rel, ".restore-")
}

// Create writes an archive of layout's data directory to file (its
// extension chooses the compression), with a snapshot of the SQLite
// database at dbPath; dbPath is empty when the store is not SQLite
// (PostgreSQL: pg_dump backs it up).
func Create(ctx context.Context, layout fsroot.Layout, file, version, dbPath string) (Manifest, error) {
	withDB := dbPath != ""
	m := Manifest{Format: 1, Version: version, Created: time.Now().UTC(), Database: withDB}
	tmp, err := os.MkdirTemp(filepath.Dir(file), ".labd-backup-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, "labd.db")
	if withDB {
		if err := store.SnapshotSQLite(ctx, dbPath, snap); err != nil {
			return m, err
		}
	}

	// Count first, so that the manifest (the first entry) is complete.
	type item struct {
		rel, abs string
		info     fs.FileInfo
	}
	var items []item
	if withDB {
		fi, err := os.Stat(snap)
		if err != nil {
			return m, err
		}
		items = append(items, item{"labd.db", snap, fi})
	}
	root := layout.DataDir
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSocket != 0 || d.Type()&fs.ModeNamedPipe != 0 || d.Type()&fs.ModeDevice != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		items = append(items, item{filepath.ToSlash(rel), p, fi})
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("backup %s: %w", root, err)
	}
	for _, it := range items {
		if it.info.Mode().IsRegular() {
			m.Files++
			m.Bytes += it.info.Size()
		}
	}

	partial := file + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(partial)
	cw, err := compressor(file, f)
	if err != nil {
		f.Close()
		return m, err
	}
	tw := tar.NewWriter(cw)
	mj, _ := json.MarshalIndent(m, "", "  ")
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(mj)), ModTime: m.Created, Typeflag: tar.TypeReg}); err != nil {
		return m, err
	}
	tw.Write(mj)
	for _, it := range items {
		if err := addEntry(tw, it.rel, it.abs, it.info); err != nil {
			f.Close()
			return m, fmt.Errorf("backup %s: %w", it.rel, err)
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return m, err
	}
	if err := cw.Close(); err != nil {
		f.Close()
		return m, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return m, err
	}
	if err := f.Close(); err != nil {
		return m, err
	}
	return m, os.Rename(partial, file)
}

func addEntry(tw *tar.Writer, rel, abs string, fi fs.FileInfo) error {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(abs); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = rel
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uname, h.Gname = "", ""
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	// A file that grew since it was listed is archived at its listed size:
	// tar headers carry the size first.
	_, err = io.CopyN(tw, f, h.Size)
	return err
}

// ErrNotEmpty is returned by Restore when the data directory holds a
// database and force is false.
var ErrNotEmpty = errors.New("the data directory already holds a labd database")

// Restore unpacks an archive into layout's data directory. The daemon must
// be stopped. Without force it refuses a data directory that already has
// a database. Entries that would land outside the data directory, device
// files and links pointing outside are refused.
func Restore(ctx context.Context, layout fsroot.Layout, file string, force bool) (Manifest, error) {
	var m Manifest
	if _, err := os.Stat(layout.Database()); err == nil && !force {
		return m, fmt.Errorf("restore into %s: %w; add --force to replace it (its content is lost)", layout.DataDir, ErrNotEmpty)
	}
	f, err := os.Open(file)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	r, err := decompressor(file, f)
	if err != nil {
		return m, err
	}
	if err := os.MkdirAll(layout.DataDir, 0o750); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	stage, err := os.MkdirTemp(layout.DataDir, ".restore-")
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	m, err = Extract(ctx, r, stage)
	if err != nil {
		return m, fmt.Errorf("restore %s: %w", file, err)
	}
	// Replace what the archive holds, top-level entry by entry; what it
	// does not hold (a config beside the data) stays.
	entries, err := os.ReadDir(stage)
	if err != nil {
		return m, err
	}
	if m.Database {
		for _, s := range []string{"-wal", "-shm", "-journal"} {
			os.Remove(layout.Database() + s)
		}
	}
	for _, e := range entries {
		dst := filepath.Join(layout.DataDir, e.Name())
		if err := os.RemoveAll(dst); err != nil {
			return m, fmt.Errorf("restore: replace %s: %w", dst, err)
		}
		if err := os.Rename(filepath.Join(stage, e.Name()), dst); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	return m, nil
}

func decompressor(name string, r io.Reader) (io.Reader, error) {
	switch {
	case strings.HasSuffix(name, ".tar.zst") || strings.HasSuffix(name, ".tzst"):
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz"):
		return gzip.NewReader(r)
	case strings.HasSuffix(name, ".tar"):
		return r, nil
	}
	return nil, fmt.Errorf("restore %s: not a .tar.zst, .tar.gz or .tar archive", name)
}

// Extract unpacks a tar stream into dir, which must exist, and returns the
// archive's manifest. It is the archive parser; FuzzExtract feeds it
// hostile archives.
func Extract(ctx context.Context, r io.Reader, dir string) (Manifest, error) {
	var m Manifest
	tr := tar.NewReader(r)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return m, err
	}
	defer root.Close()
	first := true
	for {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, err
		}
		if first {
			first = false
			if h.Name != ManifestName {
				return m, fmt.Errorf("not a labd backup (first entry %q, want %s)", h.Name, ManifestName)
			}
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return m, err
			}
			if err := json.Unmarshal(b, &m); err != nil || m.Format != 1 {
				return m, fmt.Errorf("not a labd backup of a known format: %v", err)
			}
			continue
		}
		name := strings.TrimSuffix(h.Name, "/")
		if !filepath.IsLocal(name) || strings.Contains(name, `\`) || skip(name) && name != "labd.db" {
			return m, fmt.Errorf("entry %q: %w", h.Name, fsroot.ErrEscape)
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, mode|0o700); err != nil {
				return m, err
			}
		case tar.TypeReg:
			if d := filepath.Dir(name); d != "." {
				if err := root.MkdirAll(d, 0o750); err != nil {
					return m, err
				}
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode&^0o022|0o600)
			if err != nil {
				return m, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return m, err
			}
			root.Chtimes(name, h.ModTime, h.ModTime)
		case tar.TypeSymlink:
			// Only links that stay inside their own directory tree, as
			// the services would have allowed them.
			target := filepath.Join(filepath.Dir(name), h.Linkname)
			if filepath.IsAbs(h.Linkname) || !filepath.IsLocal(target) {
				return m, fmt.Errorf("link %q -> %q: %w", h.Name, h.Linkname, fsroot.ErrEscape)
			}
			if d := filepath.Dir(name); d != "." {
				if err := root.MkdirAll(d, 0o750); err != nil {
					return m, err
				}
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return m, err
			}
		default:
			return m, fmt.Errorf("entry %q: type %q is not restored", h.Name, h.Typeflag)
		}
	}
	if first {
		return m, errors.New("empty archive")
	}
	return m, nil
}

package ftp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"labd/internal/fsroot"
)

// rootFs is the afero.Fs ftpserverlib works on: one user's home (or pub/)
// opened as an os.Root, so that no path leaves it: ".." is cleaned away by
// the library (every path it gives is virtual and absolute) and os.Root
// refuses symlinks that point outside. Errors are reduced to a bare errno
// ("no such file or directory", "permission denied") so that a reply never
// shows where the data directory really is.
type rootFs struct {
	root     *os.Root
	readOnly bool
	noQuota  bool // pub/ mounted in a user's view: not the user's quota
	client   *client
	// hold keeps root open for the transfers under way (rootref.go).
	hold rootHold
}

var (
	_ afero.Fs                                    = (*rootFs)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*rootFs)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*rootFs)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*rootFs)(nil)
)

// clean maps any filesystem error to an errno without a path in it.
func clean(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ftpserver.ErrStorageExceeded) {
		return ftpserver.ErrStorageExceeded
	}
	if err == io.EOF {
		return err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT, syscall.EACCES, syscall.EPERM, syscall.EEXIST, syscall.ENOTDIR,
			syscall.EISDIR, syscall.ENOTEMPTY, syscall.ENOSPC, syscall.EDQUOT, syscall.ENAMETOOLONG,
			syscall.EROFS, syscall.EBUSY:
			return errno
		case syscall.ELOOP, syscall.EXDEV:
			return syscall.EACCES
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	}
	// Everything else, in particular a path that leaves the home
	// (fsroot.IsEscape: a symlink pointing outside), is a refusal.
	return syscall.EACCES
}

// rel turns the library's virtual absolute path into an os.Root name.
func rel(name string) string { return fsroot.Rel(name) }

func (r *rootFs) writable() error {
	if r.readOnly {
		return syscall.EACCES
	}
	return nil
}

func (r *rootFs) Name() string { return "labd" }

func (r *rootFs) Create(name string) (afero.File, error) {
	return r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (r *rootFs) Mkdir(name string, _ os.FileMode) error {
	if err := r.writable(); err != nil {
		return err
	}
	return clean(r.root.Mkdir(rel(name), 0o755))
}

func (r *rootFs) MkdirAll(name string, _ os.FileMode) error {
	if err := r.writable(); err != nil {
		return err
	}
	return clean(r.root.MkdirAll(rel(name), 0o755))
}

func (r *rootFs) Open(name string) (afero.File, error) {
	f, err := r.root.Open(rel(name))
	if err != nil {
		return nil, clean(err)
	}
	return &file{File: f, name: name}, nil
}

const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_TRUNC | os.O_APPEND

func (r *rootFs) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	if flag&writeFlags != 0 {
		if err := r.writable(); err != nil {
			return nil, err
		}
	}
	f, err := r.root.OpenFile(rel(name), flag, 0o644)
	if err != nil {
		return nil, clean(err)
	}
	return &file{File: f, name: name}, nil
}

// Remove is DELE: files (and symlinks) only; RMD goes to RemoveDir.
func (r *rootFs) Remove(name string) error {
	if err := r.writable(); err != nil {
		return err
	}
	p := rel(name)
	fi, err := r.root.Lstat(p)
	if err != nil {
		return clean(err)
	}
	if fi.IsDir() {
		return syscall.EISDIR
	}
	return clean(r.root.Remove(p))
}

// RemoveDir is RMD: empty directories only.
func (r *rootFs) RemoveDir(name string) error {
	if err := r.writable(); err != nil {
		return err
	}
	p := rel(name)
	if p == "." {
		return syscall.EBUSY
	}
	fi, err := r.root.Lstat(p)
	if err != nil {
		return clean(err)
	}
	if !fi.IsDir() {
		return syscall.ENOTDIR
	}
	return clean(r.root.Remove(p))
}

// RemoveAll is SITE RMDIR.
func (r *rootFs) RemoveAll(name string) error {
	if err := r.writable(); err != nil {
		return err
	}
	p := rel(name)
	if p == "." {
		return syscall.EBUSY
	}
	return clean(r.root.RemoveAll(p))
}

func (r *rootFs) Rename(oldname, newname string) error {
	if err := r.writable(); err != nil {
		return err
	}
	o, n := rel(oldname), rel(newname)
	if o == "." || n == "." {
		return syscall.EBUSY
	}
	return clean(r.root.Rename(o, n))
}

func (r *rootFs) Stat(name string) (os.FileInfo, error) {
	fi, err := r.root.Stat(rel(name))
	if err != nil {
		return nil, clean(err)
	}
	return fi, nil
}

func (r *rootFs) Chmod(name string, mode os.FileMode) error {
	if err := r.writable(); err != nil {
		return err
	}
	return clean(r.root.Chmod(rel(name), mode&0o775)) // never world-writable, setuid or setgid
}

func (r *rootFs) Chown(string, int, int) error { return syscall.EPERM }

func (r *rootFs) Chtimes(name string, atime, mtime time.Time) error {
	if err := r.writable(); err != nil {
		return err
	}
	return clean(r.root.Chtimes(rel(name), atime, mtime))
}

// ReadDir lists a directory for LIST, NLST and MLSD, sorted by name.
func (r *rootFs) ReadDir(name string) ([]os.FileInfo, error) {
	d, err := r.root.Open(rel(name))
	if err != nil {
		return nil, clean(err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, clean(err)
	}
	out := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// usage sums the sizes of the regular files under the root.
func (r *rootFs) usage() int64 {
	var total int64
	_ = fs.WalkDir(r.root.FS(), ".", func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// GetHandle opens a file for RETR (flags O_RDONLY), STOR (O_WRONLY|O_CREATE,
// with O_TRUNC unless resuming with REST) or APPE (O_APPEND). Uploads get
// the per-file limit and the user's quota.
func (r *rootFs) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	write := flags&writeFlags != 0
	if write {
		if err := r.writable(); err != nil {
			return nil, err
		}
	}
	p := rel(name)
	if !r.hold.acquire() {
		return nil, syscall.EACCES // the client is gone
	}
	t := &transfer{client: r.client, fs: r, rel: p, name: name, write: write, quotaLeft: -1}
	handed := false
	defer func() {
		if !handed {
			r.endTransfer()
		}
	}()
	if write {
		old, statErr := r.root.Stat(p)
		if statErr == nil && old.IsDir() {
			return nil, syscall.EISDIR
		}
		var oldSize int64
		if statErr == nil {
			oldSize = old.Size()
		}
		t.replaces = statErr != nil || flags&os.O_TRUNC != 0
		switch {
		case flags&os.O_APPEND != 0:
			t.pos = oldSize
		case flags&os.O_TRUNC == 0:
			t.pos = offset
		}
		cfg := r.client.svc.cfg
		t.maxFile = cfg.MaxFileBytes
		if q := cfg.QuotaBytes; q > 0 && !r.noQuota {
			used := r.usage()
			if flags&os.O_TRUNC != 0 {
				used -= oldSize // the old content goes away
			}
			t.quotaLeft = max(q-used, 0)
			if t.quotaLeft == 0 {
				return nil, ftpserver.ErrStorageExceeded
			}
		}
	}
	if write && t.replaces {
		// A new or replaced file is written under a temporary name and
		// renamed over the real one only when the upload succeeded: a
		// failed STOR (disk full, connection lost) leaves the old file or
		// nothing, never a truncated file under the real name.
		f, tmp, err := r.tempFile(p)
		if err != nil {
			return nil, clean(err)
		}
		t.f, t.tmp = f, tmp
		r.client.transferStarted()
		handed = true
		return t, nil
	}
	f, err := r.root.OpenFile(p, flags, 0o644)
	if err != nil {
		return nil, clean(err)
	}
	t.f = f
	r.client.transferStarted()
	handed = true
	return t, nil
}

// uploadPrefix starts the names of uploads in progress.
const uploadPrefix = ".labd-upload-"

// tempFile creates a new file next to p for an upload to p.
func (r *rootFs) tempFile(p string) (*os.File, string, error) {
	dir := path.Dir(p)
	for range 10 {
		var b [6]byte
		_, _ = rand.Read(b[:])
		tmp := path.Join(dir, uploadPrefix+hex.EncodeToString(b[:]))
		f, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, tmp, err
	}
	return nil, "", fs.ErrExist
}

// file hides the real path an *os.File carries.
type file struct {
	*os.File
	name string
}

func (f *file) Name() string { return f.name }

func (f *file) Readdir(n int) ([]os.FileInfo, error) {
	fi, err := f.File.Readdir(n)
	return fi, clean(err)
}

func (f *file) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	return fi, clean(err)
}

package ftp

import (
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// mountFs is a user's view: the home at /, and the shared pub/ directory
// (what anonymous FTP and TFTP serve) at /pub, read-only unless
// ftp.pub_writable is on. A file a user puts into /pub is then fetched
// over TFTP by its name. A "pub" of the home's own is hidden by it.
type mountFs struct {
	home, pub *rootFs
}

var (
	_ afero.Fs                                    = (*mountFs)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*mountFs)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*mountFs)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*mountFs)(nil)
)

const pubMount = "/pub"

// pick returns the filesystem and its path for name, and whether name is
// the mount point itself.
func (m *mountFs) pick(name string) (*rootFs, string, bool) {
	p := path.Clean("/" + name)
	switch {
	case p == pubMount:
		return m.pub, "/", true
	case strings.HasPrefix(p, pubMount+"/"):
		return m.pub, p[len(pubMount):], false
	}
	return m.home, p, false
}

// namedInfo renames a FileInfo (pub/'s root is listed as "pub").
type namedInfo struct {
	os.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }

func (m *mountFs) Name() string { return "labd" }

func (m *mountFs) Create(name string) (afero.File, error) {
	fs, p, top := m.pick(name)
	if top {
		return nil, syscall.EISDIR
	}
	return fs.Create(p)
}

func (m *mountFs) Mkdir(name string, perm os.FileMode) error {
	fs, p, top := m.pick(name)
	if top {
		return syscall.EEXIST
	}
	return fs.Mkdir(p, perm)
}

func (m *mountFs) MkdirAll(name string, perm os.FileMode) error {
	fs, p, _ := m.pick(name)
	return fs.MkdirAll(p, perm)
}

func (m *mountFs) Open(name string) (afero.File, error) {
	fs, p, _ := m.pick(name)
	return fs.Open(p)
}

func (m *mountFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	fs, p, _ := m.pick(name)
	return fs.OpenFile(p, flag, perm)
}

func (m *mountFs) Remove(name string) error {
	fs, p, top := m.pick(name)
	if top {
		return syscall.EACCES
	}
	return fs.Remove(p)
}

func (m *mountFs) RemoveDir(name string) error {
	fs, p, top := m.pick(name)
	if top {
		return syscall.EACCES
	}
	return fs.RemoveDir(p)
}

func (m *mountFs) RemoveAll(name string) error {
	fs, p, top := m.pick(name)
	if top {
		return syscall.EACCES
	}
	return fs.RemoveAll(p)
}

// Rename works inside the home or inside pub/, not across (move a file
// into pub/ with a transfer, so that the quota and limits apply).
func (m *mountFs) Rename(oldname, newname string) error {
	fo, po, topo := m.pick(oldname)
	fn, pn, topn := m.pick(newname)
	if topo || topn || fo != fn {
		return syscall.EACCES
	}
	return fo.Rename(po, pn)
}

func (m *mountFs) Stat(name string) (os.FileInfo, error) {
	fs, p, top := m.pick(name)
	fi, err := fs.Stat(p)
	if err == nil && top {
		fi = namedInfo{fi, "pub"}
	}
	return fi, err
}

func (m *mountFs) Chmod(name string, mode os.FileMode) error {
	fs, p, top := m.pick(name)
	if top {
		return syscall.EACCES
	}
	return fs.Chmod(p, mode)
}

func (m *mountFs) Chown(string, int, int) error { return syscall.EPERM }

func (m *mountFs) Chtimes(name string, atime, mtime time.Time) error {
	fs, p, top := m.pick(name)
	if top {
		return syscall.EACCES
	}
	return fs.Chtimes(p, atime, mtime)
}

func (m *mountFs) ReadDir(name string) ([]os.FileInfo, error) {
	fs, p, _ := m.pick(name)
	list, err := fs.ReadDir(p)
	if err != nil || fs != m.home || path.Clean("/"+name) != "/" {
		return list, err
	}
	out := list[:0]
	for _, fi := range list {
		if fi.Name() != "pub" {
			out = append(out, fi)
		}
	}
	if fi, err := m.pub.Stat("/"); err == nil {
		out = append(out, namedInfo{fi, "pub"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *mountFs) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	fs, p, top := m.pick(name)
	if top {
		return nil, syscall.EISDIR
	}
	return fs.GetHandle(p, flags, offset)
}

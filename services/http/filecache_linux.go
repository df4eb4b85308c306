package http

import (
	"io/fs"
	"syscall"
)

// fileStamp is what tells a file apart from an edited or replaced one
// beyond size and mtime: its inode and change time (which every write,
// chmod and rename updates).
type fileStamp struct {
	ino   uint64
	ctime syscall.Timespec
}

func stampOf(st fs.FileInfo) (fileStamp, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}, false
	}
	return fileStamp{sys.Ino, sys.Ctim}, true
}

// dirID tells a directory apart from one that replaced it at the same path.
type dirID struct{ dev, ino uint64 }

func dirIDOf(dir string) (dirID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return dirID{}, false
	}
	return dirID{uint64(st.Dev), st.Ino}, true
}

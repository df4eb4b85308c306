package ftp

import (
	"errors"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// replaceFile puts a finished upload (tmp) in place of dst, both in the
// same directory of root. Over an existing file it exchanges the two names
// (renameat2 RENAME_EXCHANGE) and then unlinks the old content, instead of
// renaming over it: ext4 treats a rename over an existing file as
// "replace-via-rename" and starts writing the whole new file to disk
// inside rename(2) (auto_da_alloc), which took 0.15 s of a 0.3 s upload of
// 256 MiB. The exchange keeps the swap atomic (a download sees the old
// file or the new one, never none); writeback comes later as for any
// write, as with vsftpd, which truncates and rewrites in place.
func replaceFile(root *os.Root, tmp, dst string) error {
	d, err := root.Open(path.Dir(dst))
	if err != nil {
		return root.Rename(tmp, dst)
	}
	defer d.Close()
	fd := int(d.Fd())
	tb, db := path.Base(tmp), path.Base(dst)
	err = unix.Renameat2(fd, tb, fd, db, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOENT):
		return root.Rename(tmp, dst) // nothing to replace
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return root.Rename(tmp, dst) // a filesystem without exchange
	default:
		return err
	}
	// Hold the old content open while its name goes, and let it go in the
	// background: the last close of a file that has no name left is what
	// frees its pages and blocks, and on a filesystem mounted with
	// `discard` it waits for the disk (0.06 s for 256 MiB here, a third of
	// the upload). The reply need not wait for it; a crash before the
	// close leaves an orphan inode that the filesystem frees at mount.
	old, oerr := unix.Openat(fd, tb, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err := unix.Unlinkat(fd, tb, 0); err != nil {
		if oerr == nil {
			unix.Close(old)
		}
		// dst had become a directory since the upload began: put both
		// back, as a rename over a directory would have failed.
		_ = unix.Renameat2(fd, tb, fd, db, unix.RENAME_EXCHANGE)
		return &os.LinkError{Op: "rename", Old: tmp, New: dst, Err: unix.EISDIR}
	}
	if oerr == nil {
		go unix.Close(old)
	}
	return nil
}

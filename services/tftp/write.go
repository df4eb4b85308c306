package tftp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	pintftp "github.com/pin/tftp/v3"

	"labd/internal/service"
)

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// inUpload tells whether a cleaned relative name lies in the upload dir.
func (s *Service) inUpload(name string) bool {
	if s.uploadDir == "." {
		return true
	}
	return strings.HasPrefix(name, s.uploadDir+string(filepath.Separator))
}

// handleWrite serves a WRQ: into a temporary file beside the target, which
// is synced and moved into place only once the last block arrived; the
// final ACK goes out after that, so an acknowledged file survives a crash
// and an interrupted transfer leaves nothing behind.
func (s *Service) handleWrite(filename string, wt io.WriterTo) (err error) {
	defer service.Recover(s.log, "tftp", "file", filename)
	t := s.begin(wt, filename, "write")
	defer t.guard(&err)
	if !s.cfg.AllowWrite {
		return t.fail(errorf(errAccess, "access violation: this server does not accept writes (tftp.allow_write is off)"))
	}
	if err := t.checkMode(); err != nil {
		return t.fail(err)
	}
	name, err := cleanName(filename)
	if err != nil {
		return t.fail(err)
	}
	if !s.inUpload(name) {
		return t.fail(errorf(errAccess, "access violation: writes go to %s/ only (put FILE %s/FILE)", s.uploadDir, s.uploadDir))
	}
	if it, ok := wt.(pintftp.IncomingTransfer); ok {
		if size, ok := it.Size(); ok && size > s.cfg.MaxFileBytes {
			return t.fail(errorf(errDiskFull, "allocation exceeded: %d bytes announced, this server takes at most %d", size, s.cfg.MaxFileBytes))
		}
	}
	root, err := os.OpenRoot(s.root)
	if err != nil {
		return t.fail(errorf(errNotDefined, "TFTP root unavailable"))
	}
	defer root.Close()
	if fi, err := root.Lstat(name); err == nil {
		if fi.IsDir() {
			return t.fail(errorf(errAccess, "access violation: %s is a directory", filename))
		}
		if !s.cfg.Overwrite {
			return t.fail(errorf(errExists, "file already exists: %s (this server does not overwrite)", filename))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return t.fail(fsError(err, filename))
	}
	dir := filepath.Dir(name)
	if fi, err := root.Stat(dir); err != nil {
		return t.fail(fsError(err, dir))
	} else if !fi.IsDir() {
		return t.fail(errorf(errAccess, "access violation: %s is not a directory", dir))
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(name)+".part-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return t.fail(fsError(err, filename))
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			_ = root.Remove(tmp)
		}
	}()

	fw := &fileWriter{f: f, t: t, limit: s.cfg.MaxFileBytes}
	var dst io.Writer = fw
	var dec *netasciiDecoder
	if t.netascii {
		dec = newNetasciiDecoder(fw)
		dst = dec
	}
	t.started = true
	if _, err := wt.WriteTo(&wireWriter{w: dst, t: t}); err != nil {
		return t.fail(err)
	}
	if dec != nil {
		if err := dec.Close(); err != nil {
			return t.fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return t.fail(fsError(err, filename))
	}
	if err := f.Close(); err != nil {
		return t.fail(fsError(err, filename))
	}
	if s.cfg.Overwrite {
		err = root.Rename(tmp, name)
	} else {
		// link refuses to replace a file that appeared meanwhile.
		err = root.Link(tmp, name)
		if err == nil {
			_ = root.Remove(tmp)
		}
	}
	if err != nil {
		return t.fail(fsError(err, filename))
	}
	committed = true
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	t.finish("ok")
	return nil
}

// fileWriter writes to the temporary file, enforcing max_file_bytes. A
// failure sends its ERROR at once (before the library's own code 1).
type fileWriter struct {
	f     *os.File
	t     *transfer
	limit int64
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.t.s.killed.Load() {
		return 0, w.t.sendError(errorf(errNotDefined, "labd is shutting down"))
	}
	if w.t.disk+int64(len(p)) > w.limit {
		return 0, w.t.sendError(errorf(errDiskFull, "allocation exceeded: this server takes files of at most %d bytes", w.limit))
	}
	n, err := w.f.Write(p)
	w.t.disk += int64(n)
	if err != nil {
		return n, w.t.sendError(fsError(err, w.t.file))
	}
	return n, nil
}

// wireWriter counts the payload received from the client.
type wireWriter struct {
	w io.Writer
	t *transfer
}

func (w *wireWriter) Write(p []byte) (int, error) {
	w.t.wire.Add(int64(len(p)))
	w.t.sess.AddBytes(int64(len(p)), 0)
	w.t.wl.wrote(p)
	return w.w.Write(p)
}

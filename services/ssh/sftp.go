package ssh

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"syscall"

	glssh "github.com/gliderlabs/ssh"
	"github.com/pkg/sftp"

	"labd/internal/fsroot"
	"labd/internal/service"
	"labd/internal/sessions"
)

// handleSFTP serves the "sftp" subsystem (OpenSSH sftp, scp in its default
// SFTP mode, FileZilla, WinSCP) over the user's home only. sftp.NewServer
// would serve the host's whole file system: labd uses a RequestServer whose
// every operation goes through an os.Root opened on the home.
func (s *Service) handleSFTP(sess glssh.Session) {
	ctx := sess.Context()
	user := userOf(ctx)
	remote := sess.RemoteAddr().String()
	log := s.log.With("remote", remote, "user", user)
	defer service.Recover(log, "ssh", "remote", remote, "user", user)
	if user == "" {
		sess.Exit(1)
		return
	}
	if err := s.deps.Layout.EnsureHome(user); err != nil {
		log.Error("sftp: home", "err", err)
		sess.Exit(1)
		return
	}
	root, err := os.OpenRoot(s.deps.Layout.Home(user))
	if err != nil {
		log.Error("sftp: open home", "err", err)
		sess.Exit(1)
		return
	}
	defer root.Close()
	reg := sessionOf(ctx)
	if reg != nil {
		reg.SetAttr("subsystem", "sftp")
		reg.Notef("SFTP subsystem started (home of %s seen as /)", user)
	}
	h := &homeFS{root: root, user: user, log: log, sess: reg, pubWritable: s.deps.Config.FTP.PubWritable}
	// The shared pub/ (anonymous FTP, TFTP) at /pub, as in the FTP view.
	if pub, err := os.OpenRoot(s.deps.Layout.Pub()); err == nil {
		defer pub.Close()
		h.pub = pub
	}
	// The allocator reuses the packet buffers: without it each 32 KiB
	// read of a download allocated and cleared a new one (GC in the
	// profile of an SFTP download).
	srv := sftp.NewRequestServer(sess, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}, sftp.WithRSAllocator())
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		log.Debug("sftp ended", "err", err)
	}
	// The exit status first: RequestServer.Close closes the channel, and
	// scp reports a failure when no status came.
	sess.Exit(0)
	srv.Close()
	log.Info("sftp session ended")
}

// homeFS implements pkg/sftp's request handlers over one home. The client
// sees the home as "/" (as with FTP); /home/<user>/..., the shell's name for
// it, is accepted as well. ".." never climbs above it, and os.Root refuses
// a symlink that leads outside.
type homeFS struct {
	root *os.Root
	// pub is the shared pub/ directory shown at /pub (nil: not shown),
	// writable with ftp.pub_writable.
	pub         *os.Root
	pubWritable bool
	user        string
	log         *slog.Logger
	sess        *sessions.Session
}

var errNoSymlinks = &fs.PathError{Op: "symlink", Err: errors.New("creating symbolic links is not allowed in the lab home")}

// rel turns a client path (already cleaned to an absolute path by
// pkg/sftp) into a name relative to the home for os.Root.
func (h *homeFS) rel(p string) string {
	v := path.Clean("/" + p)
	alias := "/home/" + h.user
	if v == alias {
		v = "/"
	} else if strings.HasPrefix(v, alias+"/") {
		v = strings.TrimPrefix(v, alias)
	}
	return fsroot.Rel(v)
}

// at routes a client path to the home or to pub/: the root, the name in
// it, and whether the path is the /pub mount point itself.
func (h *homeFS) at(p string) (*os.Root, string, bool) {
	rel := h.rel(p)
	if h.pub != nil && (rel == "pub" || strings.HasPrefix(rel, "pub/")) {
		return h.pub, fsroot.Rel(strings.TrimPrefix(rel, "pub")), rel == "pub"
	}
	return h.root, rel, false
}

// atWrite is at for a change: refused on the mount point, and in pub/
// unless it is writable.
func (h *homeFS) atWrite(p string) (*os.Root, string, error) {
	root, rel, top := h.at(p)
	if top || (root == h.pub && !h.pubWritable) {
		return nil, "", sftp.ErrSSHFxPermissionDenied
	}
	return root, rel, nil
}

// fail turns an os.Root error into what an SFTP client understands: an
// escape is "permission denied", not a generic failure.
func (h *homeFS) fail(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if fsroot.IsEscape(err) {
		h.log.Info("sftp: path outside the home refused", "op", op, "path", p)
		if h.sess != nil {
			h.sess.Notef("sftp %s %s: refused (outside the home)", op, p)
		}
		return sftp.ErrSSHFxPermissionDenied
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// Do not show the host path of the home to the client.
		return &fs.PathError{Op: op, Path: p, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &fs.PathError{Op: op, Path: p, Err: le.Err}
	}
	return err
}

func (h *homeFS) note(format string, args ...any) {
	if h.sess != nil {
		h.sess.Notef(format, args...)
	}
}

// Fileread implements sftp.FileReader (download).
func (h *homeFS) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	root, rel, _ := h.at(r.Filepath)
	f, err := root.Open(rel)
	if err != nil {
		return nil, h.fail("open", r.Filepath, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: r.Filepath, Err: syscall.EISDIR}
	}
	h.log.Info("sftp get", "path", r.Filepath)
	h.note("sftp get %s", r.Filepath)
	return f, nil
}

// Filewrite implements sftp.FileWriter (upload).
func (h *homeFS) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.open(r, false)
}

// OpenFile implements sftp.OpenFileWriter (read and write on one handle).
func (h *homeFS) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.open(r, true)
}

func (h *homeFS) open(r *sftp.Request, read bool) (*os.File, error) {
	pf := r.Pflags()
	flag := os.O_WRONLY
	if read {
		flag = os.O_RDWR
	}
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	// Append is not passed on: pkg/sftp writes with WriteAt, which
	// O_APPEND forbids; clients that append send the offsets.
	perm := fs.FileMode(0o644)
	if r.AttrFlags().Permissions {
		perm = safeMode(r.Attributes().FileMode())
	}
	root, rel, err := h.atWrite(r.Filepath)
	if err != nil {
		return nil, err
	}
	f, err := root.OpenFile(rel, flag, perm)
	if err != nil {
		return nil, h.fail("open", r.Filepath, err)
	}
	h.log.Info("sftp put", "path", r.Filepath)
	h.note("sftp put %s", r.Filepath)
	return f, nil
}

// Filecmd implements sftp.FileCmder.
func (h *homeFS) Filecmd(r *sftp.Request) error {
	root, p, err := h.atWrite(r.Filepath)
	if err != nil {
		return err
	}
	if r.Method == "Rename" || r.Method == "Link" {
		if troot, _, err := h.atWrite(r.Target); err != nil || troot != root {
			return sftp.ErrSSHFxPermissionDenied // not across /pub
		}
	}
	switch r.Method {
	case "Setstat":
		return h.setstat(r, root, p)
	case "Rename":
		// SFTP v3 rename does not replace an existing file.
		t := targetRel(h, r.Target)
		if _, err := root.Lstat(t); err == nil {
			return &fs.PathError{Op: "rename", Path: r.Target, Err: fs.ErrExist}
		}
		h.note("sftp rename %s %s", r.Filepath, r.Target)
		return h.fail("rename", r.Filepath, root.Rename(p, t))
	case "Rmdir":
		fi, err := root.Lstat(p)
		if err != nil {
			return h.fail("rmdir", r.Filepath, err)
		}
		if !fi.IsDir() {
			return &fs.PathError{Op: "rmdir", Path: r.Filepath, Err: syscall.ENOTDIR}
		}
		if p == "." {
			return sftp.ErrSSHFxPermissionDenied
		}
		h.note("sftp rmdir %s", r.Filepath)
		return h.fail("rmdir", r.Filepath, root.Remove(p))
	case "Remove":
		fi, err := root.Lstat(p)
		if err != nil {
			return h.fail("remove", r.Filepath, err)
		}
		if fi.IsDir() {
			return &fs.PathError{Op: "remove", Path: r.Filepath, Err: syscall.EISDIR}
		}
		h.note("sftp remove %s", r.Filepath)
		return h.fail("remove", r.Filepath, root.Remove(p))
	case "Mkdir":
		perm := fs.FileMode(0o755)
		if r.AttrFlags().Permissions {
			perm = safeMode(r.Attributes().FileMode())
		}
		h.note("sftp mkdir %s", r.Filepath)
		return h.fail("mkdir", r.Filepath, root.Mkdir(p, perm))
	case "Link":
		return h.fail("link", r.Filepath, root.Link(p, targetRel(h, r.Target)))
	case "Symlink":
		// The target would be stored raw and could name any host path.
		h.note("sftp symlink %s -> %s: refused", r.Target, r.Filepath)
		return errNoSymlinks
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename implements sftp.PosixRenameFileCmder (posix-rename@openssh.com,
// what OpenSSH's sftp rename uses): it replaces the target.
func (h *homeFS) PosixRename(r *sftp.Request) error {
	root, p, err := h.atWrite(r.Filepath)
	if err != nil {
		return err
	}
	troot, t, err := h.atWrite(r.Target)
	if err != nil || troot != root {
		return sftp.ErrSSHFxPermissionDenied // not across /pub
	}
	h.note("sftp rename %s %s", r.Filepath, r.Target)
	return h.fail("rename", r.Filepath, root.Rename(p, t))
}

// targetRel is the name of a rename or link target in its root.
func targetRel(h *homeFS, target string) string {
	_, rel, _ := h.at(target)
	return rel
}

// setstat applies what it can (size, permissions, times) and ignores the
// owner: lab users are not host accounts.
func (h *homeFS) setstat(r *sftp.Request, root *os.Root, p string) error {
	fl := r.AttrFlags()
	a := r.Attributes()
	if fl.Size {
		f, err := root.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return h.fail("truncate", r.Filepath, err)
		}
		err = f.Truncate(int64(a.Size))
		f.Close()
		if err != nil {
			return h.fail("truncate", r.Filepath, err)
		}
	}
	if fl.Permissions {
		if err := root.Chmod(p, safeMode(a.FileMode())); err != nil {
			return h.fail("chmod", r.Filepath, err)
		}
	}
	if fl.Acmodtime {
		if err := root.Chtimes(p, a.AccessTime(), a.ModTime()); err != nil {
			return h.fail("chtimes", r.Filepath, err)
		}
	}
	return nil
}

// Filelist implements sftp.FileLister: List (a directory), Stat, and
// Readlink when the client does not use ReadlinkFileLister.
func (h *homeFS) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	root, p, _ := h.at(r.Filepath)
	switch r.Method {
	case "List":
		d, err := root.Open(p)
		if err != nil {
			return nil, h.fail("opendir", r.Filepath, err)
		}
		defer d.Close()
		ents, err := d.ReadDir(-1)
		if err != nil {
			return nil, h.fail("readdir", r.Filepath, err)
		}
		out := make(listerAt, 0, len(ents))
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if root == h.root && p == "." && fi.Name() == "pub" && h.pub != nil {
				continue // hidden by the mount
			}
			out = append(out, fi)
		}
		if root == h.root && p == "." && h.pub != nil {
			if fi, err := h.pub.Stat("."); err == nil {
				out = append(out, renamed{fi, "pub"})
			}
		}
		return out, nil
	case "Stat":
		fi, err := root.Stat(p)
		if err != nil {
			return nil, h.fail("stat", r.Filepath, err)
		}
		return listerAt{renamed{fi, path.Base(r.Filepath)}}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// Lstat implements sftp.LstatFileLister.
func (h *homeFS) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	root, rel, _ := h.at(r.Filepath)
	fi, err := root.Lstat(rel)
	if err != nil {
		return nil, h.fail("lstat", r.Filepath, err)
	}
	return listerAt{renamed{fi, path.Base(r.Filepath)}}, nil
}

// Readlink implements sftp.ReadlinkFileLister. A target outside the home
// (an absolute path) is not shown.
func (h *homeFS) Readlink(p string) (string, error) {
	root, rel, _ := h.at(p)
	t, err := root.Readlink(rel)
	if err != nil {
		return "", h.fail("readlink", p, err)
	}
	if strings.HasPrefix(t, "/") {
		return "", sftp.ErrSSHFxPermissionDenied
	}
	return t, nil
}

// RealPath implements sftp.RealPathFileLister: paths are shown relative
// to the home, which is "/".
func (h *homeFS) RealPath(p string) (string, error) {
	rel := h.rel(p)
	if rel == "." {
		return "/", nil
	}
	return "/" + rel, nil
}

// LookupUserName and LookupGroupName implement sftp.NameLookupFileLister:
// ls -l shows the lab user, not the host account labd runs as.
func (h *homeFS) LookupUserName(string) string  { return h.user }
func (h *homeFS) LookupGroupName(string) string { return h.user }

// listerAt is a ready list of entries.
type listerAt []fs.FileInfo

func (l listerAt) ListAt(dst []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// renamed reports a FileInfo under the name the client asked for (the home
// itself is "." for os.Root).
type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// safeMode is what a student may set: permission bits only (no setuid,
// setgid or sticky), and never world-writable, since every home is served
// and shared on the host.
func safeMode(m fs.FileMode) fs.FileMode { return m.Perm() &^ 0o002 }

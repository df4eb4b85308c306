package ssh

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	glssh "github.com/gliderlabs/ssh"

	"labd/internal/fsroot"
)

// Legacy SCP (the rcp-style protocol scp used before OpenSSH 9, and what
// OpenSSH 8.x on Ubuntu 22.04, Windows' OpenSSH and `scp -O` still use):
// the client runs "scp -t TARGET" (upload) or "scp -f PATH..." (download)
// on the server and speaks the protocol over the command's stdin/stdout.
// labd implements both ends itself over the home (os.Root, same paths as
// SFTP: the home is "/"); no host program runs.

// isSCP reports whether an exec command line is a legacy scp.
func isSCP(args []string) bool {
	return len(args) > 0 && (args[0] == "scp" || strings.HasSuffix(args[0], "/scp"))
}

// runSCP serves one scp -t or scp -f and returns the exit status.
func (s *Service) runSCP(sess glssh.Session, user string, args []string) int {
	var to, from, recursive, preserve, dirTarget bool
	var paths []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			paths = append(paths, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			for _, c := range a[1:] {
				switch c {
				case 't':
					to = true
				case 'f':
					from = true
				case 'r':
					recursive = true
				case 'p':
					preserve = true
				case 'd':
					dirTarget = true
				case 'v', 'q', 'E':
				default:
					fmt.Fprintf(sess.Stderr(), "scp: unsupported option -%c\n", c)
					return 1
				}
			}
			continue
		}
		paths = append(paths, a)
	}
	if to == from || (to && len(paths) != 1) || len(paths) == 0 {
		fmt.Fprintln(sess.Stderr(), "scp: labd serves scp -t TARGET or scp -f PATH... (it is what the scp client runs)")
		return 1
	}
	if err := s.deps.Layout.EnsureHome(user); err != nil {
		fmt.Fprintln(sess.Stderr(), "scp: home not available")
		return 1
	}
	root, err := os.OpenRoot(s.deps.Layout.Home(user))
	if err != nil {
		fmt.Fprintln(sess.Stderr(), "scp: home not available")
		return 1
	}
	defer root.Close()
	reg := sessionOf(sess.Context())
	c := &scpConn{
		h:   &homeFS{root: root, user: user, log: s.log.With("user", user, "remote", sess.RemoteAddr().String()), sess: reg},
		in:  bufio.NewReader(sess),
		out: sess,
	}
	if reg != nil {
		reg.SetAttr("scp", "legacy")
	}
	if to {
		err = c.sink(paths[0], recursive, dirTarget)
	} else {
		err = c.source(paths, recursive, preserve)
	}
	if err != nil {
		c.h.log.Info("scp failed", "err", err)
		return 1
	}
	return c.status
}

type scpConn struct {
	h      *homeFS
	in     *bufio.Reader
	out    io.Writer
	status int
}

// scpPath maps a client path like SFTP does, with ~ and "" as the home.
func (c *scpConn) rel(p string) string {
	switch {
	case p == "" || p == "~":
		return "."
	case strings.HasPrefix(p, "~/"):
		p = p[2:]
	}
	return c.h.rel(p)
}

func (c *scpConn) ack() error {
	_, err := c.out.Write([]byte{0})
	return err
}

// fatal sends a fatal error (0x02) and returns it.
func (c *scpConn) fatal(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(c.out, "\x02scp: %s\n", msg)
	return errors.New(msg)
}

// warn sends a non-fatal error (0x01): the transfer goes on, the status
// will be 1.
func (c *scpConn) warn(format string, args ...any) {
	fmt.Fprintf(c.out, "\x01scp: "+format+"\n", args...)
	c.status = 1
}

// readAck reads the peer's answer: 0, or 1/2 followed by a message.
func (c *scpConn) readAck() error {
	b, err := c.in.ReadByte()
	if err != nil {
		return err
	}
	if b == 0 {
		return nil
	}
	msg, _ := c.readLine()
	return fmt.Errorf("client: %s", msg)
}

func (c *scpConn) readLine() (string, error) {
	var b strings.Builder
	for b.Len() < 4096 {
		ch, err := c.in.ReadByte()
		if err != nil {
			return b.String(), err
		}
		if ch == '\n' {
			return b.String(), nil
		}
		b.WriteByte(ch)
	}
	return b.String(), errors.New("protocol line too long")
}

func errMsg(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if fsroot.IsEscape(err) || errors.Is(err, fs.ErrPermission) {
		return "Permission denied"
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "No such file or directory"
	}
	return err.Error()
}

// sink receives files (scp -t TARGET).
func (c *scpConn) sink(target string, recursive, mustBeDir bool) error {
	top := c.rel(target)
	fi, err := c.h.root.Stat(top)
	topIsDir := err == nil && fi.IsDir()
	if mustBeDir && !topIsDir {
		return c.fatal("%s: Not a directory", target)
	}
	type dir struct{ rel string }
	var stack []dir
	var mtime, atime time.Time
	haveTimes := false
	if err := c.ack(); err != nil {
		return err
	}
	for {
		line, err := c.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return nil
			}
			return err
		}
		if line == "" {
			return c.fatal("protocol error: empty line")
		}
		switch line[0] {
		case 1, 2:
			c.status = 1
			if line[0] == 2 {
				return errors.New(line[1:])
			}
			continue
		case 'T':
			var m, ms, a, as int64
			if _, err := fmt.Sscanf(line[1:], "%d %d %d %d", &m, &ms, &a, &as); err != nil {
				return c.fatal("protocol error: bad T line")
			}
			mtime, atime, haveTimes = time.Unix(m, 0), time.Unix(a, 0), true
			if err := c.ack(); err != nil {
				return err
			}
			continue
		case 'E':
			if len(stack) == 0 {
				return c.fatal("protocol error: E outside a directory")
			}
			stack = stack[:len(stack)-1]
			if err := c.ack(); err != nil {
				return err
			}
			continue
		case 'C', 'D':
		default:
			return c.fatal("protocol error: unexpected %q", line)
		}
		parts := strings.SplitN(line[1:], " ", 3)
		if len(parts) != 3 {
			return c.fatal("protocol error: bad %c line", line[0])
		}
		mode, err1 := strconv.ParseUint(parts[0], 8, 32)
		size, err2 := strconv.ParseInt(parts[1], 10, 64)
		name := parts[2]
		if err1 != nil || err2 != nil || size < 0 || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			return c.fatal("protocol error: bad file name or size in %q", line)
		}
		perm := fs.FileMode(mode).Perm()
		var dest string
		switch {
		case len(stack) > 0:
			dest = path.Join(stack[len(stack)-1].rel, name)
		case topIsDir:
			dest = path.Join(top, name)
		default:
			dest = top
		}
		if line[0] == 'D' {
			if !recursive {
				return c.fatal("%s: is a directory (use scp -r)", name)
			}
			if err := c.h.root.Mkdir(dest, perm|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return c.fatal("%s: %s", name, errMsg(err))
			}
			if fi, err := c.h.root.Stat(dest); err != nil || !fi.IsDir() {
				return c.fatal("%s: Not a directory", name)
			}
			c.h.note("scp put directory /%s", dest)
			stack = append(stack, dir{dest})
			if err := c.ack(); err != nil {
				return err
			}
			haveTimes = false
			continue
		}
		f, err := c.h.root.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
		if err != nil {
			// The data must still be read off the stream.
			c.warn("%s: %s", name, errMsg(err))
			if _, err := io.CopyN(io.Discard, c.in, size); err != nil {
				return err
			}
			if err := c.readAck(); err != nil {
				return err
			}
			continue
		}
		if err := c.ack(); err != nil {
			f.Close()
			return err
		}
		_, cerr := io.CopyN(f, c.in, size)
		werr := f.Close()
		if cerr != nil {
			return cerr
		}
		if err := c.readAck(); err != nil {
			return err
		}
		if werr != nil {
			c.warn("%s: %s", name, errMsg(werr))
			continue
		}
		if haveTimes {
			_ = c.h.root.Chtimes(dest, atime, mtime)
			haveTimes = false
		}
		c.h.log.Info("scp put", "path", dest, "bytes", size)
		c.h.note("scp put %s (%d bytes)", "/"+dest, size)
		if err := c.ack(); err != nil {
			return err
		}
	}
}

// source sends files (scp -f PATH...).
func (c *scpConn) source(paths []string, recursive, preserve bool) error {
	if err := c.readAck(); err != nil {
		return err
	}
	for _, p := range paths {
		rel := c.rel(p)
		fi, err := c.h.root.Stat(rel)
		if err != nil {
			c.warn("%s: %s", p, errMsg(err))
			continue
		}
		if err := c.send(rel, fi, recursive, preserve); err != nil {
			return err
		}
	}
	return nil
}

func (c *scpConn) send(rel string, fi fs.FileInfo, recursive, preserve bool) error {
	name := path.Base(rel)
	if rel == "." {
		name = c.h.user
	}
	if preserve {
		fmt.Fprintf(c.out, "T%d 0 %d 0\n", fi.ModTime().Unix(), fi.ModTime().Unix())
		if err := c.readAck(); err != nil {
			return err
		}
	}
	if fi.IsDir() {
		if !recursive {
			c.warn("%s: not a regular file", name)
			return nil
		}
		fmt.Fprintf(c.out, "D%04o 0 %s\n", fi.Mode().Perm(), name)
		if err := c.readAck(); err != nil {
			return err
		}
		d, err := c.h.root.Open(rel)
		if err != nil {
			c.warn("%s: %s", name, errMsg(err))
		} else {
			ents, _ := d.ReadDir(-1)
			d.Close()
			for _, e := range ents {
				child := path.Join(rel, e.Name())
				cfi, err := c.h.root.Stat(child)
				if err != nil {
					c.warn("%s: %s", e.Name(), errMsg(err))
					continue
				}
				if err := c.send(child, cfi, recursive, preserve); err != nil {
					return err
				}
			}
		}
		fmt.Fprint(c.out, "E\n")
		return c.readAck()
	}
	if !fi.Mode().IsRegular() {
		c.warn("%s: not a regular file", name)
		return nil
	}
	f, err := c.h.root.Open(rel)
	if err != nil {
		c.warn("%s: %s", name, errMsg(err))
		return nil
	}
	defer f.Close()
	fmt.Fprintf(c.out, "C%04o %d %s\n", fi.Mode().Perm(), fi.Size(), name)
	if err := c.readAck(); err != nil {
		return err
	}
	n, err := io.CopyN(c.out, f, fi.Size())
	if err != nil {
		// The promised size cannot be met: the stream is broken.
		return fmt.Errorf("%s: short read after %d bytes: %w", name, n, err)
	}
	if err := c.ack(); err != nil {
		return err
	}
	c.h.log.Info("scp get", "path", rel, "bytes", n)
	c.h.note("scp get /%s (%d bytes)", rel, n)
	return c.readAck()
}

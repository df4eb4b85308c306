package shell

// tar and gzip over the home. Extraction goes through os.Root like every
// other write, keeps only files and directories, and is bounded.

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

const (
	maxExtract        = 256 << 20 // bytes one tar -x or gunzip may write
	maxExtractEntries = 10000
)

func cmdTar(s *Shell, c *call) int {
	// tar czf x.tgz dir: the first word's letters are options without "-".
	if len(c.args) > 0 && !strings.HasPrefix(c.args[0], "-") {
		c.args = append([]string{"-" + c.args[0]}, c.args[1:]...)
	}
	o, args, ok := c.getopt("cxtzvf:C:")
	if !ok {
		return 2
	}
	modes := 0
	for _, m := range []byte("cxt") {
		if o.has(m) {
			modes++
		}
	}
	if modes != 1 {
		c.usageError("say one of -c (create), -x (extract), -t (list): tar czf out.tar.gz dir; tar xzf in.tar.gz; tar tzf in.tar.gz")
		return 2
	}
	cdir := "."
	if o.has('C') {
		cdir = o.val('C')
	}
	dir, err := c.resolve(cdir)
	if err != nil {
		return c.failf("%s: %v", cdir, err)
	}
	archive := o.val('f')
	if archive == "" {
		archive = "-"
	}
	if o.has('c') {
		if len(args) == 0 {
			c.usageError("name what to put in the archive")
			return 2
		}
		var w io.Writer = c.out
		if archive != "-" {
			rel, err := c.resolve(archive)
			if err != nil {
				return c.failf("%s: %v", archive, err)
			}
			f, err := s.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return c.failf("%s: %s", archive, errText(err))
			}
			defer f.Close()
			w = &limitedWriter{w: f, ls: lineOf(c.ctx)}
		}
		var zw *gzip.Writer
		if o.has('z') {
			zw = gzip.NewWriter(w)
			w = zw
		}
		tw := tar.NewWriter(w)
		status := 0
		for _, a := range args {
			rel, err := c.resolve(path.Join(s.virtualOf(dir), a))
			if strings.HasPrefix(a, "/") || strings.HasPrefix(a, "~") {
				rel, err = c.resolve(a)
			}
			if err != nil {
				status = c.failf("%s: %v", a, err)
				continue
			}
			err = fs.WalkDir(s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if c.ctx.Err() != nil {
					return c.ctx.Err()
				}
				fi, err := d.Info()
				if err != nil {
					return err
				}
				if !fi.Mode().IsRegular() && !fi.IsDir() {
					return nil // links and others stay out
				}
				name := p
				if dir != "." {
					name = strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
					if !strings.HasPrefix(p, dir+"/") && p != dir {
						name = p // named by an absolute path outside -C
					}
				}
				hdr, err := tar.FileInfoHeader(fi, "")
				if err != nil {
					return err
				}
				hdr.Name, hdr.Uname, hdr.Gname = name, s.env.User, "users"
				if fi.IsDir() {
					hdr.Name += "/"
				}
				if o.has('v') {
					fmt.Fprintln(c.err, hdr.Name)
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if fi.IsDir() {
					return nil
				}
				f, err := s.root.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = io.Copy(tw, f)
				return err
			})
			if err != nil {
				return c.failf("%s: %s", a, errText(err))
			}
		}
		if err := tw.Close(); err != nil {
			return c.failf("%v", err)
		}
		if zw != nil {
			if err := zw.Close(); err != nil {
				return c.failf("%v", err)
			}
		}
		return status
	}
	var r io.Reader = readerCtx(c.ctx, c.in)
	if archive != "-" {
		f, err := c.open(archive)
		if err != nil {
			return c.failf("%s: %v", archive, err)
		}
		defer f.Close()
		r = f
	}
	if o.has('z') {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return c.failf("%s: not in gzip format (without z for a plain tar)", archive)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	var written int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return 0
		}
		if err != nil {
			return c.failf("%s: %v", archive, err)
		}
		if n >= maxExtractEntries {
			return c.failf("more than %d entries: stopped", maxExtractEntries)
		}
		if o.has('t') {
			if o.has('v') {
				fmt.Fprintf(c.out, "%s %s/%s %8d %s %s\n", fs.FileMode(hdr.Mode).String(), hdr.Uname, hdr.Gname, hdr.Size, hdr.ModTime.Format("2006-01-02 15:04"), hdr.Name)
			} else {
				fmt.Fprintln(c.out, hdr.Name)
			}
			continue
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if !filepath.IsLocal(name) {
			c.failf("%s: skipped (an absolute path or ..)", hdr.Name)
			continue
		}
		target := path.Join(dir, name)
		if o.has('v') {
			fmt.Fprintln(c.out, hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := s.root.MkdirAll(target, 0o755); err != nil {
				c.failf("%s: %s", hdr.Name, errText(err))
			}
		case tar.TypeReg:
			if written += hdr.Size; written > maxExtract {
				return c.failf("more than %d MiB to extract: stopped", maxExtract>>20)
			}
			_ = s.root.MkdirAll(path.Dir(target), 0o755)
			f, err := s.root.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fs.FileMode(hdr.Mode).Perm()&0o755|0o600)
			if err != nil {
				c.failf("%s: %s", hdr.Name, errText(err))
				continue
			}
			_, err = io.Copy(f, io.LimitReader(tr, hdr.Size))
			f.Close()
			if err != nil {
				return c.failf("%s: %v", hdr.Name, err)
			}
		default:
			c.failf("%s: skipped (only files and directories are extracted)", hdr.Name)
		}
	}
}

// virtualOf is the user's view of a path relative to the home.
func (s *Shell) virtualOf(rel string) string { return s.virtual(rel) }

func cmdGzip(s *Shell, c *call) int {
	o, args, ok := c.getopt("dckvf")
	if !ok {
		return 2
	}
	if c.name == "gunzip" {
		o.set['d'] = true
	}
	if c.name == "zcat" {
		o.set['d'], o.set['c'] = true, true
	}
	if len(args) == 0 {
		o.set['c'] = true
		args = []string{"-"}
	}
	status := 0
	for _, a := range args {
		var r io.Reader
		var srcRel string
		if a == "-" {
			r = readerCtx(c.ctx, c.in)
		} else {
			rel, err := c.resolve(a)
			if err != nil {
				status = c.failf("%s: %v", a, err)
				continue
			}
			f, err := c.open(a)
			if err != nil {
				status = c.failf("%s: %v", a, err)
				continue
			}
			defer f.Close()
			r, srcRel = f, rel
		}
		var w io.Writer = c.out
		var dstRel string
		if !o.has('c') {
			if o.has('d') {
				if !strings.HasSuffix(srcRel, ".gz") {
					status = c.failf("%s: unknown suffix (want .gz); use gunzip -c %s > NAME", a, a)
					continue
				}
				dstRel = strings.TrimSuffix(srcRel, ".gz")
			} else {
				dstRel = srcRel + ".gz"
			}
			if _, err := s.root.Stat(dstRel); err == nil && !o.has('f') {
				status = c.failf("%s already exists (-f overwrites)", s.virtual(dstRel))
				continue
			}
			f, err := s.root.OpenFile(dstRel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				status = c.failf("%s: %s", a, errText(err))
				continue
			}
			defer f.Close()
			w = &limitedWriter{w: f, ls: lineOf(c.ctx)}
		}
		var err error
		if o.has('d') {
			var zr *gzip.Reader
			zr, err = gzip.NewReader(r)
			if err == nil {
				var n int64
				n, err = io.Copy(w, io.LimitReader(zr, maxExtract+1))
				if err == nil && n > maxExtract {
					err = errorf("more than %d MiB uncompressed: stopped", maxExtract>>20)
				}
			} else {
				err = errors.New("not in gzip format")
			}
		} else {
			zw := gzip.NewWriter(w)
			if _, err = io.Copy(zw, r); err == nil {
				err = zw.Close()
			}
		}
		if err != nil {
			status = c.failf("%s: %v", a, err)
			if dstRel != "" {
				_ = s.root.Remove(dstRel)
			}
			continue
		}
		if dstRel != "" && !o.has('k') {
			_ = s.root.Remove(srcRel)
		}
	}
	return status
}

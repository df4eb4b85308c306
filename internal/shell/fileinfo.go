package shell

// Looking at files: find, du, df, stat, file, chmod.

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

func cmdFind(s *Shell, c *call) int {
	var starts []string
	args := c.args
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		starts, args = append(starts, args[0]), args[1:]
	}
	if len(starts) == 0 {
		starts = []string{"."}
	}
	var name, iname, typ string
	maxDepth := -1
	for len(args) > 0 {
		opt := args[0]
		if opt == "-print" {
			args = args[1:]
			continue
		}
		if len(args) < 2 {
			c.usageError("%s needs a value", opt)
			return 1
		}
		v := args[1]
		args = args[2:]
		switch opt {
		case "-name":
			name = v
		case "-iname":
			iname = strings.ToLower(v)
		case "-type":
			if v != "f" && v != "d" && v != "l" {
				c.usageError("-type takes f (file), d (directory) or l (link)")
				return 1
			}
			typ = v
		case "-maxdepth":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				c.usageError("-maxdepth takes a number")
				return 1
			}
			maxDepth = n
		default:
			c.usageError("%s is not supported; use -name, -iname, -type, -maxdepth", opt)
			return 1
		}
	}
	for _, p := range []string{name, iname} {
		if _, err := path.Match(p, ""); err != nil {
			c.usageError("bad pattern %s", p)
			return 1
		}
	}
	status := 0
	for _, st := range starts {
		rel, err := c.resolve(st)
		if err != nil {
			status = c.failf("'%s': %v", st, err)
			continue
		}
		err = fs.WalkDir(s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			if err != nil {
				status = c.failf("'%s': %s", p, errText(err))
				return nil
			}
			sub := strings.TrimPrefix(strings.TrimPrefix(p, rel), "/")
			if rel == "." {
				sub = strings.TrimPrefix(p, "./")
				if p == "." {
					sub = ""
				}
			}
			depth := 0
			if sub != "" {
				depth = strings.Count(sub, "/") + 1
			}
			if maxDepth >= 0 && depth > maxDepth {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			shown := st
			if sub != "" {
				shown = strings.TrimSuffix(st, "/") + "/" + sub
			}
			base := path.Base(p)
			if name != "" {
				if ok, _ := path.Match(name, base); !ok {
					return nil
				}
			}
			if iname != "" {
				if ok, _ := path.Match(iname, strings.ToLower(base)); !ok {
					return nil
				}
			}
			switch typ {
			case "f":
				if !d.Type().IsRegular() {
					return nil
				}
			case "d":
				if !d.IsDir() {
					return nil
				}
			case "l":
				if d.Type()&fs.ModeSymlink == 0 {
					return nil
				}
			}
			_, err = fmt.Fprintln(c.out, shown)
			return err
		})
		if err != nil {
			return c.failf("%v", err)
		}
	}
	return status
}

// blocks is the disk use of a file in KiB, as du counts it.
func blocks(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks / 2
	}
	return (fi.Size() + 1023) / 1024
}

func human(n int64) string {
	const u = "KMGTP"
	f := float64(n)
	i := -1
	for f >= 1024 && i < len(u)-1 {
		f /= 1024
		i++
	}
	if i < 0 {
		return strconv.FormatInt(n, 10)
	}
	if f < 10 {
		return fmt.Sprintf("%.1f%c", f, u[i])
	}
	return fmt.Sprintf("%.0f%c", f, u[i])
}

func cmdDu(s *Shell, c *call) int {
	o, args, ok := c.getopt("shac")
	if !ok {
		return 2
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	show := func(kib int64, name string) {
		if o.has('h') {
			fmt.Fprintf(c.out, "%s\t%s\n", human(kib*1024), name)
		} else {
			fmt.Fprintf(c.out, "%d\t%s\n", kib, name)
		}
	}
	status := 0
	var grand int64
	for _, a := range args {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("'%s': %v", a, err)
			continue
		}
		sizes := map[string]int64{}
		var order []string
		err = fs.WalkDir(s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			fi, err := s.root.Lstat(p)
			if err != nil {
				return nil
			}
			k := blocks(fi)
			for q := p; ; q = path.Dir(q) {
				sizes[q] += k
				if q == rel || q == "." || q == "/" {
					break
				}
			}
			if d.IsDir() || o.has('a') {
				order = append(order, p)
			}
			return nil
		})
		if err != nil {
			status = c.failf("'%s': %s", a, errText(err))
			continue
		}
		shown := func(p string) string {
			if p == rel {
				return a
			}
			return strings.TrimSuffix(a, "/") + "/" + strings.TrimPrefix(strings.TrimPrefix(p, rel), "/")
		}
		if !o.has('s') {
			for i := len(order) - 1; i >= 0; i-- {
				if order[i] != rel {
					show(sizes[order[i]], shown(order[i]))
				}
			}
		}
		show(sizes[rel], a)
		grand += sizes[rel]
	}
	if o.has('c') {
		show(grand, "total")
	}
	return status
}

func cmdDf(s *Shell, c *call) int {
	o, _, ok := c.getopt("hkT")
	if !ok {
		return 2
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.env.Deps.Layout.Home(s.env.User), &st); err != nil {
		return c.failf("%v", err)
	}
	bs := int64(st.Bsize)
	total, free, avail := int64(st.Blocks)*bs, int64(st.Bfree)*bs, int64(st.Bavail)*bs
	used := total - free
	pct := 0
	if used+avail > 0 {
		pct = int((used*100 + used + avail - 1) / (used + avail))
	}
	if o.has('h') {
		fmt.Fprintf(c.out, "%-15s %6s %6s %6s %4s %s\n", "Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on")
		fmt.Fprintf(c.out, "%-15s %6s %6s %6s %3d%% %s\n", "labd-home", human(total), human(used), human(avail), pct, s.home)
		return 0
	}
	fmt.Fprintf(c.out, "%-15s %10s %10s %10s %4s %s\n", "Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on")
	fmt.Fprintf(c.out, "%-15s %10d %10d %10d %3d%% %s\n", "labd-home", total/1024, used/1024, avail/1024, pct, s.home)
	return 0
}

func fileKind(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular() && fi.Size() == 0:
		return "regular empty file"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}

func cmdStat(s *Shell, c *call) int {
	_, args, ok := c.getopt("L")
	if !ok {
		return 2
	}
	if len(args) == 0 {
		c.usageError("%s", "stat FILE...")
		return 1
	}
	status := 0
	for _, a := range args {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("cannot stat '%s': %v", a, err)
			continue
		}
		fi, err := s.root.Lstat(rel)
		if err != nil {
			status = c.failf("cannot stat '%s': %s", a, errText(err))
			continue
		}
		name := a
		if fi.Mode()&fs.ModeSymlink != 0 {
			if t, err := s.root.Readlink(rel); err == nil {
				name += " -> " + t
			}
		}
		var ino, nlink uint64
		var atime time.Time
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino, nlink = st.Ino, uint64(st.Nlink)
			atime = time.Unix(st.Atim.Sec, st.Atim.Nsec)
		}
		u := uid(s.env.User)
		fmt.Fprintf(c.out, "  File: %s\n", name)
		fmt.Fprintf(c.out, "  Size: %-15d Blocks: %-10d IO Block: 4096   %s\n", fi.Size(), blocks(fi)*2, fileKind(fi))
		fmt.Fprintf(c.out, "Device: labd      Inode: %-11d Links: %d\n", ino, nlink)
		fmt.Fprintf(c.out, "Access: (%04o/%s)  Uid: (%5d/%8s)   Gid: (  100/   users)\n", fi.Mode().Perm()|modeBits(fi.Mode()), fi.Mode(), u, s.env.User)
		fmt.Fprintf(c.out, "Access: %s\n", atime.Format("2006-01-02 15:04:05.000000000 -0700"))
		fmt.Fprintf(c.out, "Modify: %s\n", fi.ModTime().Format("2006-01-02 15:04:05.000000000 -0700"))
	}
	return status
}

func modeBits(m fs.FileMode) fs.FileMode {
	var b fs.FileMode
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// describe says what a file holds, from its first bytes.
func describe(b []byte) string {
	switch {
	case len(b) == 0:
		return "empty"
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "gzip compressed data"
	case len(b) > 262 && string(b[257:262]) == "ustar":
		return "POSIX tar archive"
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		return "PNG image data"
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "JPEG image data"
	case bytes.HasPrefix(b, []byte("GIF8")):
		return "GIF image data"
	case bytes.HasPrefix(b, []byte("%PDF")):
		return "PDF document"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return "Zip archive data"
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "ELF executable (it cannot run in the lab shell)"
	case bytes.HasPrefix(b, []byte("-----BEGIN CERTIFICATE")):
		return "PEM certificate"
	case bytes.HasPrefix(b, []byte("-----BEGIN")):
		return "PEM data (key or certificate)"
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "data"
	}
	kind := "ASCII text"
	for _, x := range b {
		if x >= 0x80 {
			kind = "UTF-8 Unicode text"
			if !utf8.Valid(b[:len(b)-min(3, len(b))]) {
				kind = "ISO-8859 text"
			}
			break
		}
	}
	ct := http.DetectContentType(b)
	switch {
	case strings.HasPrefix(ct, "text/html"):
		kind = "HTML document, " + kind
	case bytes.HasPrefix(b, []byte("#!")):
		kind = "script, " + kind
	}
	if bytes.Contains(b, []byte("\r\n")) {
		kind += ", with CRLF line terminators"
	} else if bytes.Contains(b, []byte("\r")) {
		kind += ", with CR line terminators"
	}
	return kind
}

func cmdFile(s *Shell, c *call) int {
	_, args, ok := c.getopt("b")
	if !ok {
		return 2
	}
	if len(args) == 0 {
		c.usageError("%s", "file FILE...")
		return 1
	}
	for _, a := range args {
		rel, err := c.resolve(a)
		if err != nil {
			fmt.Fprintf(c.out, "%s: cannot open (%v)\n", a, err)
			continue
		}
		fi, err := s.root.Lstat(rel)
		if err != nil {
			fmt.Fprintf(c.out, "%s: cannot open (%s)\n", a, errText(err))
			continue
		}
		switch {
		case fi.IsDir():
			fmt.Fprintf(c.out, "%s: directory\n", a)
			continue
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := s.root.Readlink(rel)
			fmt.Fprintf(c.out, "%s: symbolic link to %s\n", a, t)
			continue
		}
		f, err := s.root.Open(rel)
		if err != nil {
			fmt.Fprintf(c.out, "%s: cannot open (%s)\n", a, errText(err))
			continue
		}
		head := make([]byte, 4096)
		n, _ := io.ReadFull(f, head)
		f.Close()
		fmt.Fprintf(c.out, "%s: %s\n", a, describe(head[:n]))
	}
	return 0
}

// chmodMode applies a mode (octal, or symbolic like u+x,go-w) to old.
func chmodMode(spec string, old fs.FileMode) (fs.FileMode, error) {
	if v, err := strconv.ParseUint(spec, 8, 32); err == nil {
		if v > 0o7777 {
			return 0, errorf("invalid mode: %q", spec)
		}
		if v&0o7000 != 0 {
			return 0, errorf("setuid, setgid and sticky bits are not allowed in the lab")
		}
		return fs.FileMode(v), nil
	}
	m := old.Perm()
	for _, clause := range strings.Split(spec, ",") {
		i := 0
		var who fs.FileMode
		for i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0 {
			switch clause[i] {
			case 'u':
				who |= 0o700
			case 'g':
				who |= 0o070
			case 'o':
				who |= 0o007
			case 'a':
				who |= 0o777
			}
			i++
		}
		if who == 0 {
			who = 0o777 &^ 0o022 // as with the umask
		}
		if i >= len(clause) || strings.IndexByte("+-=", clause[i]) < 0 {
			return 0, errorf("invalid mode: %q (use 644, u+x or go-w)", spec)
		}
		op := clause[i]
		var bits fs.FileMode
		for _, p := range clause[i+1:] {
			switch p {
			case 'r':
				bits |= 0o444
			case 'w':
				bits |= 0o222
			case 'x':
				bits |= 0o111
			case 's', 't':
				return 0, errorf("setuid, setgid and sticky bits are not allowed in the lab")
			default:
				return 0, errorf("invalid mode: %q (use 644, u+x or go-w)", spec)
			}
		}
		bits &= who
		switch op {
		case '+':
			m |= bits
		case '-':
			m &^= bits
		case '=':
			m = m&^who | bits
		}
	}
	return m, nil
}

func cmdChmod(s *Shell, c *call) int {
	o, args, ok := c.getopt("Rv")
	if !ok {
		return 2
	}
	if len(args) < 2 {
		c.usageError("%s", "chmod MODE FILE...")
		return 1
	}
	spec, files := args[0], args[1:]
	status := 0
	apply := func(rel, shown string) {
		fi, err := s.root.Stat(rel)
		if err != nil {
			status = c.failf("cannot access '%s': %s", shown, errText(err))
			return
		}
		m, err := chmodMode(spec, fi.Mode())
		if err != nil {
			status = c.failf("%v", err)
			return
		}
		if m&0o002 != 0 {
			status = c.failf("'%s': others cannot be given write permission in the lab (o+w); use 644 or 755", shown)
			return
		}
		if err := s.root.Chmod(rel, m); err != nil {
			status = c.failf("changing permissions of '%s': %s", shown, errText(err))
			return
		}
		if o.has('v') {
			fmt.Fprintln(c.out, s.tf("mode of '%s' changed to %04o (%s)", shown, m, m))
		}
	}
	for _, a := range files {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("cannot access '%s': %v", a, err)
			continue
		}
		if !o.has('R') {
			apply(rel, a)
			continue
		}
		_ = fs.WalkDir(s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSymlink == 0 {
				apply(p, p)
			}
			return nil
		})
	}
	return status
}

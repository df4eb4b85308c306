package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// opts is what getopt found: flags set, and the values of options that
// take one.
type opts struct {
	set  map[byte]bool
	vals map[byte]string
}

func (o opts) has(f byte) bool   { return o.set[f] }
func (o opts) val(f byte) string { return o.vals[f] }
func (o opts) num(f byte, def int) int {
	if v, ok := o.vals[f]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// hints says, for an option labd does not support, what would work.
var hints = map[string]string{
	"grep -P": "use -E",
	"grep -z": "grep works on lines",
	"sed -r":  "use -E",
	"tail -f": "files do not grow while you look in the lab shell; run tail again",
	"ls -R":   "use find",
	"cp -a":   "use cp -r",
	"rm -i":   "rm asks nothing here; check with ls first",
	"sort -h": "use -n",
	"sort -V": "use -n",
	"du -b":   "use du -h or stat",
	"nc -l":   "the lab shell cannot listen; labd's services listen for you",
	"nc -e":   "the lab shell runs no programs",
	"curl -o": "use curl URL > file",
	"curl -O": "use curl URL > file",
}

// getopt parses leading options: spec lists the flag letters, a letter
// followed by ':' takes a value (-k2 or -k 2). It prints an error that
// says what works and returns false for an unknown option.
func (c *call) getopt(spec string) (opts, []string, bool) {
	o := opts{set: map[byte]bool{}, vals: map[byte]string{}}
	args := c.args
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if len(a) < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9' && !strings.Contains(spec, "#")) {
			break
		}
		if strings.HasPrefix(a, "--") {
			c.usageError("option %s is not supported", a)
			return o, nil, false
		}
		args = args[1:]
		for i := 1; i < len(a); i++ {
			f := a[i]
			j := strings.IndexByte(spec, f)
			if f == ':' || f == '#' || j < 0 {
				if h, ok := hints[c.name+" -"+string(f)]; ok {
					c.usageError("-%c is not supported; %s", f, c.sh.t(h))
				} else {
					c.usageError("-%c is not supported", f)
				}
				return o, nil, false
			}
			o.set[f] = true
			if j+1 < len(spec) && spec[j+1] == ':' {
				v := a[i+1:]
				if v == "" {
					if len(args) == 0 {
						c.usageError("-%c needs a value", f)
						return o, nil, false
					}
					v, args = args[0], args[1:]
				}
				o.vals[f] = v
				break
			}
		}
	}
	return o, args, true
}

// usageError says what was wrong (format and a are translated as in
// failf), then the command's usage.
func (c *call) usageError(format string, a ...any) {
	fmt.Fprintf(c.err, "%s: %s\n%s\n", c.name, c.sh.tf(format, a...), c.sh.tf("usage: %s (%s --help)", commands[c.name].usage, c.name))
}

// input is one file (or standard input) a filter reads.
type input struct {
	name string // as the user gave it; "-" or "" for standard input
	r    io.Reader
}

// inputs opens the files named (standard input when none, or for "-") and
// calls fn on each; it returns the status (1 when a file failed).
func (c *call) inputs(names []string, fn func(in input) error) int {
	if len(names) == 0 {
		names = []string{"-"}
	}
	status := 0
	for _, n := range names {
		if n == "-" {
			if err := fn(input{name: "-", r: readerCtx(c.ctx, c.in)}); err != nil {
				return c.failf("%v", err)
			}
			continue
		}
		f, err := c.open(n)
		if err != nil {
			status = c.failf("%s: %s", n, err)
			continue
		}
		err = fn(input{name: n, r: f})
		f.Close()
		if err != nil {
			if errors.Is(err, errOutputLimit) || c.ctx.Err() != nil {
				return c.failf("%v", err)
			}
			status = c.failf("%s: %v", n, err)
		}
	}
	return status
}

// open opens a file of the home for reading, refusing directories.
func (c *call) open(name string) (fs.File, error) {
	rel, err := c.resolve(name)
	if err != nil {
		return nil, err
	}
	f, err := c.sh.root.Open(rel)
	if err != nil {
		return nil, errors.New(errText(err))
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, errors.New("is a directory")
	}
	return f, nil
}

// maxRead bounds what a command holds in memory (sort, diff, a pager).
const maxRead = 32 << 20

// readAll reads r within maxRead.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxRead+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRead {
		return nil, errorf("input larger than %d MiB", maxRead>>20)
	}
	return b, nil
}

// lines splits text into lines without their ends (a last line without
// LF counts).
func lines(b []byte) []string {
	s := string(b)
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// eachLine calls fn on each line of r (without the LF), lines up to 1 MiB.
func eachLine(r io.Reader, fn func(line string) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 1<<20 {
			return errors.New("line longer than 1 MiB")
		}
		if line != "" {
			if e := fn(strings.TrimSuffix(line, "\n")); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

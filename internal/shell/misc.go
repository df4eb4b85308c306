package shell

// Small utilities: seq, printf, sleep, env, uname, basename, dirname,
// true/false, base64, checksums, byte dumps.

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"mvdan.cc/sh/v3/interp"
)

func cmdSeq(s *Shell, c *call) int {
	o, args, ok := c.getopt("s:w#")
	if !ok {
		return 2
	}
	if len(args) < 1 || len(args) > 3 {
		c.usageError("seq LAST, seq FIRST LAST or seq FIRST STEP LAST")
		return 2
	}
	nums := make([]float64, len(args))
	isInt := true
	for i, a := range args {
		v, err := strconv.ParseFloat(a, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			c.usageError("%q is not a number", a)
			return 2
		}
		nums[i] = v
		if strings.ContainsAny(a, ".eE") {
			isInt = false
		}
	}
	first, step, last := 1.0, 1.0, nums[len(nums)-1]
	if len(nums) >= 2 {
		first = nums[0]
	}
	if len(nums) == 3 {
		step = nums[1]
	}
	if step == 0 {
		c.usageError("the step cannot be 0")
		return 2
	}
	sep := "\n"
	if o.has('s') {
		sep = o.val('s')
	}
	width := 0
	if o.has('w') {
		width = max(len(strconv.FormatFloat(first, 'f', -1, 64)), len(strconv.FormatFloat(last, 'f', -1, 64)))
	}
	w := bufio.NewWriterSize(c.out, 32<<10)
	n := 0
	for i := 0; ; i++ {
		v := first + float64(i)*step
		if (step > 0 && v > last) || (step < 0 && v < last) {
			break
		}
		if i%4096 == 0 && c.ctx.Err() != nil {
			return 130
		}
		if n > 0 {
			w.WriteString(sep)
		}
		n++
		if isInt {
			fmt.Fprintf(w, "%0*d", width, int64(v))
		} else {
			w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		if w.Buffered() == 0 || w.Available() < 64 {
			if err := w.Flush(); err != nil {
				if errors.Is(err, errLimit) {
					return c.failf("stopped: %v", err)
				}
				return 1 // a closed pipe: seq | head
			}
		}
	}
	if n > 0 {
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

// printfEscapes applies the backslash escapes of a printf format or %b.
func printfEscapes(s string) string {
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\\`, `\`, `\a`, "\a", `\b`, "\b", `\f`, "\f", `\v`, "\v", `\e`, "\x1b", `\0`, "\x00", `\"`, `"`)
	return r.Replace(s)
}

func cmdPrintf(s *Shell, c *call) int {
	if len(c.args) == 0 {
		c.usageError("%s", "printf FORMAT [ARG...]")
		return 2
	}
	format, args := printfEscapes(c.args[0]), c.args[1:]
	var out strings.Builder
	status := 0
	for first := true; first || len(args) > 0; first = false {
		used := false
		for i := 0; i < len(format); i++ {
			ch := format[i]
			if ch != '%' {
				out.WriteByte(ch)
				continue
			}
			j := i + 1
			for j < len(format) && strings.IndexByte("-+ #0123456789.", format[j]) >= 0 {
				j++
			}
			if j >= len(format) {
				out.WriteString(format[i:])
				break
			}
			spec, verb := format[i+1:j], format[j]
			i = j
			if verb == '%' {
				out.WriteByte('%')
				continue
			}
			for _, part := range strings.Split(spec, ".") {
				if n, _ := strconv.Atoi(strings.TrimLeft(part, "-+ #0")); n > 1000 {
					return c.failf("width or precision over 1000 is not allowed")
				}
			}
			arg := ""
			if len(args) > 0 {
				arg, args = args[0], args[1:]
				used = true
			}
			switch verb {
			case 's':
				fmt.Fprintf(&out, "%"+spec+"s", arg)
			case 'b':
				fmt.Fprintf(&out, "%"+spec+"s", printfEscapes(arg))
			case 'c':
				if arg != "" {
					out.WriteString(arg[:1])
				}
			case 'd', 'i', 'x', 'X', 'o', 'u':
				v, err := strconv.ParseInt(arg, 0, 64)
				if arg == "" {
					err = nil
				}
				if err != nil {
					if len(arg) > 1 && (arg[0] == '\'' || arg[0] == '"') {
						v, err = int64(arg[1]), nil
					} else {
						status = c.failf("%s: invalid number", arg)
					}
				}
				vb := verb
				if vb == 'i' || vb == 'u' {
					vb = 'd'
				}
				fmt.Fprintf(&out, "%"+spec+string(vb), v)
			case 'f', 'e', 'g', 'E', 'G':
				v, err := strconv.ParseFloat(arg, 64)
				if err != nil && arg != "" {
					status = c.failf("%s: invalid number", arg)
				}
				fmt.Fprintf(&out, "%"+spec+string(verb), v)
			default:
				return c.failf("%%%c: unknown conversion; use %%s %%d %%x %%o %%f %%c %%b", verb)
			}
			if out.Len() > maxArgBytes {
				return c.failf("output too long")
			}
		}
		if !used {
			break
		}
	}
	io.WriteString(c.out, out.String())
	return status
}

func cmdSleep(s *Shell, c *call) int {
	if len(c.args) == 0 {
		c.usageError("sleep SECONDS (or 1m, 2h)")
		return 2
	}
	var total time.Duration
	for _, a := range c.args {
		unit := time.Second
		switch {
		case strings.HasSuffix(a, "s"):
			a = strings.TrimSuffix(a, "s")
		case strings.HasSuffix(a, "m"):
			a, unit = strings.TrimSuffix(a, "m"), time.Minute
		case strings.HasSuffix(a, "h"):
			a, unit = strings.TrimSuffix(a, "h"), time.Hour
		case strings.HasSuffix(a, "d"):
			a, unit = strings.TrimSuffix(a, "d"), 24*time.Hour
		}
		v, err := strconv.ParseFloat(a, 64)
		if err != nil || v < 0 || v > 1e6 {
			c.usageError("invalid time interval %q", a)
			return 2
		}
		total += time.Duration(v * float64(unit))
	}
	t := time.NewTimer(total)
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-c.ctx.Done():
		return 130
	}
}

func cmdEnv(s *Shell, c *call) int {
	if len(c.args) > 0 {
		c.usageError("env only lists the variables here; to set one for a command, use export VAR=value")
		return 2
	}
	hc := interp.HandlerCtx(c.ctx)
	var out []string
	for name, vr := range hc.Env.Each {
		if vr.Exported && vr.IsSet() {
			out = append(out, name+"="+vr.String())
		}
	}
	sort.Strings(out)
	for _, l := range out {
		fmt.Fprintln(c.out, l)
	}
	return 0
}

func cmdUname(s *Shell, c *call) int {
	o, _, ok := c.getopt("asnrvmo")
	if !ok {
		return 2
	}
	machine := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686"}[runtime.GOARCH]
	if machine == "" {
		machine = runtime.GOARCH
	}
	all := o.has('a')
	var parts []string
	add := func(f byte, v string) {
		if all || o.has(f) {
			parts = append(parts, v)
		}
	}
	add('s', "Linux")
	add('n', s.hostname())
	add('r', "labd")
	add('v', "lab shell")
	add('m', machine)
	add('o', "GNU/Linux")
	if len(parts) == 0 {
		parts = []string{"Linux"}
	}
	fmt.Fprintln(c.out, strings.Join(parts, " "))
	return 0
}

func cmdBasename(s *Shell, c *call) int {
	if len(c.args) == 0 || len(c.args) > 2 {
		c.usageError("%s", "basename PATH [SUFFIX]")
		return 2
	}
	b := path.Base(c.args[0])
	if len(c.args) == 2 && b != c.args[1] {
		b = strings.TrimSuffix(b, c.args[1])
	}
	fmt.Fprintln(c.out, b)
	return 0
}

func cmdDirname(s *Shell, c *call) int {
	if len(c.args) == 0 {
		c.usageError("%s", "dirname PATH")
		return 2
	}
	for _, a := range c.args {
		fmt.Fprintln(c.out, path.Dir(a))
	}
	return 0
}

func cmdTrue(s *Shell, c *call) int  { return 0 }
func cmdFalse(s *Shell, c *call) int { return 1 }

func cmdBase64(s *Shell, c *call) int {
	o, args, ok := c.getopt("diw:")
	if !ok {
		return 2
	}
	if len(args) > 1 {
		c.usageError("base64 reads one file or standard input")
		return 2
	}
	wrap := o.num('w', 76)
	return c.inputs(args, func(in input) error {
		if o.has('d') {
			b, err := readAll(in.r)
			if err != nil {
				return err
			}
			clean := strings.Map(func(r rune) rune {
				if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
					return -1
				}
				return r
			}, string(b))
			dec, err := base64.StdEncoding.DecodeString(clean)
			if err != nil {
				dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
			}
			if err != nil {
				return errorf("invalid input")
			}
			_, err = c.out.Write(dec)
			return err
		}
		b, err := readAll(in.r)
		if err != nil {
			return err
		}
		enc := base64.StdEncoding.EncodeToString(b)
		for wrap > 0 && len(enc) > wrap {
			fmt.Fprintln(c.out, enc[:wrap])
			enc = enc[wrap:]
		}
		if enc != "" {
			fmt.Fprintln(c.out, enc)
		}
		return nil
	})
}

func hashCmd(newHash func() hash.Hash) func(s *Shell, c *call) int {
	return func(s *Shell, c *call) int {
		_, args, ok := c.getopt("b")
		if !ok {
			return 2
		}
		return c.inputs(args, func(in input) error {
			h := newHash()
			if _, err := io.Copy(h, in.r); err != nil {
				return err
			}
			_, err := fmt.Fprintf(c.out, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), in.name)
			return err
		})
	}
}

var (
	cmdMd5sum    = hashCmd(md5.New)
	cmdSha1sum   = hashCmd(sha1.New)
	cmdSha256sum = hashCmd(sha256.New)
)

// printable is the byte as a dump shows it on the right.
func printable(b byte) byte {
	if b >= 32 && b < 127 {
		return b
	}
	return '.'
}

// dump reads within maxRead (a dump of a huge file is not useful here).
func (c *call) dump(args []string, fn func(data []byte) error) int {
	if len(args) > 1 {
		c.usageError("name one file (or use standard input)")
		return 2
	}
	return c.inputs(args, func(in input) error {
		b, err := readAll(in.r)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

func cmdXxd(s *Shell, c *call) int {
	_, args, ok := c.getopt("")
	if !ok {
		return 2
	}
	return c.dump(args, func(b []byte) error {
		w := bufio.NewWriter(c.out)
		for off := 0; off < len(b); off += 16 {
			row := b[off:min(off+16, len(b))]
			fmt.Fprintf(w, "%08x: ", off)
			for i := 0; i < 16; i += 2 {
				switch {
				case i+1 < len(row):
					fmt.Fprintf(w, "%02x%02x ", row[i], row[i+1])
				case i < len(row):
					fmt.Fprintf(w, "%02x   ", row[i])
				default:
					w.WriteString("     ")
				}
			}
			w.WriteString(" ")
			for _, x := range row {
				w.WriteByte(printable(x))
			}
			w.WriteString("\n")
		}
		return w.Flush()
	})
}

func cmdHexdump(s *Shell, c *call) int {
	_, args, ok := c.getopt("C")
	if !ok {
		return 2
	}
	return c.dump(args, func(b []byte) error {
		w := bufio.NewWriter(c.out)
		for off := 0; off < len(b); off += 16 {
			row := b[off:min(off+16, len(b))]
			fmt.Fprintf(w, "%08x  ", off)
			for i := 0; i < 16; i++ {
				if i < len(row) {
					fmt.Fprintf(w, "%02x ", row[i])
				} else {
					w.WriteString("   ")
				}
				if i == 7 {
					w.WriteString(" ")
				}
			}
			w.WriteString(" |")
			for _, x := range row {
				w.WriteByte(printable(x))
			}
			w.WriteString("|\n")
		}
		fmt.Fprintf(w, "%08x\n", len(b))
		return w.Flush()
	})
}

// odChar is how od -c shows a byte.
func odChar(b byte) string {
	switch b {
	case 0:
		return `\0`
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	}
	if b >= 32 && b < 127 {
		return string(b)
	}
	return fmt.Sprintf("%03o", b)
}

func cmdOd(s *Shell, c *call) int {
	o, args, ok := c.getopt("cxbA:t:")
	if !ok {
		return 2
	}
	mode := "o2"
	switch {
	case o.has('c') || o.val('t') == "c":
		mode = "c"
	case o.has('x') || o.val('t') == "x2":
		mode = "x2"
	case o.has('b') || o.val('t') == "o1":
		mode = "o1"
	case o.val('t') == "x1":
		mode = "x1"
	case o.has('t'):
		c.usageError("-t supports c, x1, x2, o1")
		return 2
	}
	radix := "o"
	if o.has('A') {
		radix = o.val('A')
		if radix != "o" && radix != "d" && radix != "x" && radix != "n" {
			c.usageError("-A takes o, d, x or n")
			return 2
		}
	}
	addr := func(w io.Writer, off int) {
		switch radix {
		case "o":
			fmt.Fprintf(w, "%07o", off)
		case "d":
			fmt.Fprintf(w, "%07d", off)
		case "x":
			fmt.Fprintf(w, "%06x", off)
		}
	}
	return c.dump(args, func(b []byte) error {
		w := bufio.NewWriter(c.out)
		for off := 0; off < len(b); off += 16 {
			row := b[off:min(off+16, len(b))]
			addr(w, off)
			switch mode {
			case "c":
				for _, x := range row {
					fmt.Fprintf(w, " %3s", odChar(x))
				}
			case "x1":
				for _, x := range row {
					fmt.Fprintf(w, " %02x", x)
				}
			case "o1":
				for _, x := range row {
					fmt.Fprintf(w, " %03o", x)
				}
			default:
				for i := 0; i < len(row); i += 2 {
					v := int(row[i])
					if i+1 < len(row) {
						v |= int(row[i+1]) << 8
					}
					if mode == "x2" {
						fmt.Fprintf(w, " %04x", v)
					} else {
						fmt.Fprintf(w, " %06o", v)
					}
				}
			}
			w.WriteString("\n")
		}
		if radix != "n" {
			addr(w, len(b))
			w.WriteString("\n")
		}
		return w.Flush()
	})
}

package shell

// Text filters: grep, wc, head, tail, sort, uniq, cut, tr, tee, sed, diff.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// bre turns a POSIX basic regular expression into Go syntax: in a BRE,
// \( \) \{ \} \| \+ \? are the operators and the bare characters are
// literal.
func bre(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		ch := p[i]
		switch {
		case ch == '\\' && i+1 < len(p) && strings.IndexByte("(){}|+?", p[i+1]) >= 0:
			b.WriteByte(p[i+1])
			i++
		case ch == '\\' && i+1 < len(p):
			b.WriteByte('\\')
			b.WriteByte(p[i+1])
			i++
		case strings.IndexByte("(){}|+?", ch) >= 0:
			b.WriteByte('\\')
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func compileRE(pat string, extended, icase bool) (*regexp.Regexp, error) {
	if !extended {
		pat = bre(pat)
	}
	if icase {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, errorf("bad regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func cmdGrep(s *Shell, c *call) int {
	o, args, ok := c.getopt("ivncrRElLhHoqwFe:")
	if !ok {
		return 2
	}
	pat := o.val('e')
	if !o.has('e') {
		if len(args) == 0 {
			c.usageError("a pattern is needed")
			return 2
		}
		pat, args = args[0], args[1:]
	}
	if o.has('F') {
		pat, o.set['E'] = regexp.QuoteMeta(pat), true
	}
	if o.has('w') {
		if !o.has('E') {
			pat, o.set['E'] = bre(pat), true
		}
		pat = `\b(?:` + pat + `)\b`
	}
	re, err := compileRE(pat, o.has('E'), o.has('i'))
	if err != nil {
		c.failf("%v", err)
		return 2
	}
	recursive := o.has('r') || o.has('R')
	var files []string
	if recursive {
		if len(args) == 0 {
			args = []string{"."}
		}
		for _, a := range args {
			rel, err := c.resolve(a)
			if err != nil {
				c.failf("%s: %v", a, err)
				continue
			}
			_ = fs.WalkDir(s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					sub := strings.TrimPrefix(strings.TrimPrefix(p, rel), "/")
					if rel == "." {
						sub = p
					}
					shown := a
					if sub != "" {
						shown = strings.TrimSuffix(a, "/") + "/" + sub
					}
					files = append(files, shown)
				}
				return nil
			})
		}
	} else {
		files = args
	}
	prefix := (len(files) > 1 || recursive) && !o.has('h') || o.has('H')
	matched := false
	st := c.inputs(files, func(in input) error {
		name := in.name
		if name == "-" {
			name = "(standard input)"
		}
		n, count := 0, 0
		err := eachLine(in.r, func(line string) error {
			n++
			if re.MatchString(line) == o.has('v') {
				return nil
			}
			count++
			matched = true
			if o.has('q') {
				return errStopped
			}
			if o.has('l') || o.has('L') || o.has('c') {
				return nil
			}
			var b strings.Builder
			if prefix {
				b.WriteString(name + ":")
			}
			if o.has('n') {
				b.WriteString(strconv.Itoa(n) + ":")
			}
			if o.has('o') && !o.has('v') {
				for _, m := range re.FindAllString(line, -1) {
					fmt.Fprintf(c.out, "%s%s\n", b.String(), m)
				}
				return nil
			}
			b.WriteString(line + "\n")
			_, err := io.WriteString(c.out, b.String())
			return err
		})
		if errors.Is(err, errStopped) {
			return nil
		}
		switch {
		case o.has('l') && count > 0:
			fmt.Fprintln(c.out, name)
		case o.has('L') && count == 0:
			fmt.Fprintln(c.out, name)
		case o.has('c') && prefix:
			fmt.Fprintf(c.out, "%s:%d\n", name, count)
		case o.has('c'):
			fmt.Fprintln(c.out, count)
		}
		return err
	})
	if st != 0 {
		return 2
	}
	if !matched {
		return 1
	}
	return 0
}

func cmdWc(s *Shell, c *call) int {
	o, args, ok := c.getopt("lwcm")
	if !ok {
		return 2
	}
	all := !o.has('l') && !o.has('w') && !o.has('c') && !o.has('m')
	type counts struct{ l, w, c, m int64 }
	var rows []counts
	var names []string
	var total counts
	st := c.inputs(args, func(in input) error {
		var k counts
		br := bufio.NewReaderSize(in.r, 64<<10)
		inWord := false
		for {
			r, size, err := br.ReadRune()
			if err != nil {
				if err == io.EOF {
					break
				}
				return err
			}
			k.c += int64(size)
			k.m++
			if r == '\n' {
				k.l++
			}
			space := r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\v' || r == '\f'
			if !space && !inWord {
				k.w++
			}
			inWord = !space
		}
		rows = append(rows, k)
		names = append(names, in.name)
		total.l, total.w, total.c, total.m = total.l+k.l, total.w+k.w, total.c+k.c, total.m+k.m
		return nil
	})
	if len(rows) > 1 {
		rows = append(rows, total)
		names = append(names, "total")
	}
	fields := 0
	for _, f := range []bool{all || o.has('l'), all || o.has('w'), o.has('m'), all || o.has('c')} {
		if f {
			fields++
		}
	}
	for i, k := range rows {
		var parts []string
		for j, v := range []int64{k.l, k.w, k.m, k.c} {
			if (j == 0 && (all || o.has('l'))) || (j == 1 && (all || o.has('w'))) || (j == 2 && o.has('m')) || (j == 3 && (all || o.has('c'))) {
				if fields == 1 && (names[i] == "-" && len(rows) == 1) {
					parts = append(parts, strconv.FormatInt(v, 10))
				} else {
					parts = append(parts, fmt.Sprintf("%7d", v))
				}
			}
		}
		line := strings.Join(parts, " ")
		if names[i] != "-" {
			line += " " + names[i]
		}
		fmt.Fprintln(c.out, line)
	}
	return st
}

// countArg turns head/tail's -5 into -n 5.
func countArg(args []string) []string {
	if len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && args[0][1] >= '0' && args[0][1] <= '9' {
		return append([]string{"-n", args[0][1:]}, args[1:]...)
	}
	return args
}

func cmdHead(s *Shell, c *call) int {
	c.args = countArg(c.args)
	o, args, ok := c.getopt("n:c:qv")
	if !ok {
		return 2
	}
	n := o.num('n', 10)
	return c.inputs(args, func(in input) error {
		if len(args) > 1 {
			fmt.Fprintf(c.out, "==> %s <==\n", in.name)
		}
		if o.has('c') {
			_, err := io.Copy(c.out, io.LimitReader(in.r, int64(o.num('c', 0))))
			return err
		}
		i := 0
		err := eachLine(in.r, func(line string) error {
			if i >= n {
				return errStopped
			}
			i++
			_, err := io.WriteString(c.out, line+"\n")
			return err
		})
		if errors.Is(err, errStopped) {
			return nil
		}
		return err
	})
}

func cmdTail(s *Shell, c *call) int {
	c.args = countArg(c.args)
	o, args, ok := c.getopt("n:c:qv")
	if !ok {
		return 2
	}
	spec := o.val('n')
	fromStart := strings.HasPrefix(spec, "+")
	n, err := strconv.Atoi(strings.TrimPrefix(spec, "+"))
	if spec == "" {
		n = 10
	} else if err != nil || n < 0 {
		c.usageError("-n needs a number (-n 5, or -n +5 from line 5)")
		return 2
	}
	return c.inputs(args, func(in input) error {
		if len(args) > 1 {
			fmt.Fprintf(c.out, "==> %s <==\n", in.name)
		}
		b, err := readAll(in.r)
		if err != nil {
			return err
		}
		if o.has('c') {
			k := min(o.num('c', 0), len(b))
			_, err := c.out.Write(b[len(b)-k:])
			return err
		}
		ls := lines(b)
		switch {
		case fromStart:
			ls = ls[min(max(n-1, 0), len(ls)):]
		case n < len(ls):
			ls = ls[len(ls)-n:]
		}
		for _, l := range ls {
			if _, err := io.WriteString(c.out, l+"\n"); err != nil {
				return err
			}
		}
		return nil
	})
}

// readLines reads every input's lines, within maxRead.
func (c *call) readLines(args []string) ([]string, int) {
	var all []string
	size := 0
	st := c.inputs(args, func(in input) error {
		b, err := readAll(in.r)
		if err != nil {
			return err
		}
		if size += len(b); size > maxRead {
			return errorf("input larger than %d MiB", maxRead>>20)
		}
		all = append(all, lines(b)...)
		return nil
	})
	return all, st
}

// leadingNumber is the number a line starts with, for sort -n.
var leadingNumber = regexp.MustCompile(`^\s*[-+]?(\d+\.?\d*|\.\d+)`)

func cmdSort(s *Shell, c *call) int {
	o, args, ok := c.getopt("nrufk:t:")
	if !ok {
		return 2
	}
	ls, st := c.readLines(args)
	if st != 0 {
		return 2
	}
	kstart, kend := 0, 0
	if k := o.val('k'); k != "" {
		a, b, _ := strings.Cut(k, ",")
		var err1, err2 error
		kstart, err1 = strconv.Atoi(strings.TrimRight(a, "nr"))
		if b != "" {
			kend, err2 = strconv.Atoi(strings.TrimRight(b, "nr"))
		}
		if err1 != nil || err2 != nil || kstart < 1 {
			c.usageError("-k takes a field number: -k 2 or -k 2,3")
			return 2
		}
		if strings.HasSuffix(a, "n") {
			o.set['n'] = true
		}
	}
	sep := o.val('t')
	key := func(l string) string {
		if kstart == 0 {
			return l
		}
		var f []string
		if sep != "" {
			f = strings.Split(l, sep)
		} else {
			f = strings.Fields(l)
		}
		if kstart > len(f) {
			return ""
		}
		end := len(f)
		if kend > 0 && kend < end {
			end = kend
		}
		if end < kstart {
			return ""
		}
		j := sep
		if j == "" {
			j = " "
		}
		return strings.Join(f[kstart-1:end], j)
	}
	num := func(k string) float64 {
		m := leadingNumber.FindString(k)
		v, _ := strconv.ParseFloat(strings.TrimSpace(m), 64)
		return v
	}
	less := func(a, b string) int {
		ka, kb := key(a), key(b)
		if o.has('f') {
			ka, kb = strings.ToLower(ka), strings.ToLower(kb)
		}
		if o.has('n') {
			na, nb := num(ka), num(kb)
			switch {
			case na < nb:
				return -1
			case na > nb:
				return 1
			}
			return 0
		}
		return strings.Compare(ka, kb)
	}
	sort.SliceStable(ls, func(i, j int) bool {
		r := less(ls[i], ls[j])
		if r == 0 && kstart == 0 && !o.has('n') {
			return false
		}
		if r == 0 {
			r = strings.Compare(ls[i], ls[j])
		}
		if o.has('r') {
			return r > 0
		}
		return r < 0
	})
	w := bufio.NewWriter(c.out)
	for i, l := range ls {
		if o.has('u') && i > 0 && less(ls[i-1], l) == 0 {
			continue
		}
		w.WriteString(l + "\n")
	}
	if err := w.Flush(); err != nil {
		return c.failf("%v", err)
	}
	return 0
}

func cmdUniq(s *Shell, c *call) int {
	o, args, ok := c.getopt("cdui")
	if !ok {
		return 2
	}
	if len(args) > 1 {
		c.usageError("uniq reads one file (uniq FILE > OUT writes elsewhere)")
		return 2
	}
	var prev string
	count := 0
	flush := func() {
		if count == 0 || (o.has('d') && count < 2) || (o.has('u') && count > 1) {
			return
		}
		if o.has('c') {
			fmt.Fprintf(c.out, "%7d %s\n", count, prev)
		} else {
			fmt.Fprintln(c.out, prev)
		}
	}
	st := c.inputs(args, func(in input) error {
		return eachLine(in.r, func(l string) error {
			same := l == prev || (o.has('i') && strings.EqualFold(l, prev))
			if count > 0 && same {
				count++
				return nil
			}
			flush()
			prev, count = l, 1
			return nil
		})
	})
	flush()
	return st
}

// ranges parses cut's LIST: 1,3-5,7-,-2 (1-based, inclusive).
func ranges(list string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(list, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, hi := 1, 1<<30
		var err error
		if a != "" {
			if lo, err = strconv.Atoi(a); err != nil || lo < 1 {
				return nil, errorf("bad list %q: use numbers like 1,3-5,7-", list)
			}
		}
		if !isRange {
			hi = lo
		} else if b != "" {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo {
				return nil, errorf("bad list %q: use numbers like 1,3-5,7-", list)
			}
		}
		out = append(out, [2]int{lo, hi})
	}
	return out, nil
}

func inRanges(rs [][2]int, i int) bool {
	for _, r := range rs {
		if i >= r[0] && i <= r[1] {
			return true
		}
	}
	return false
}

func cmdCut(s *Shell, c *call) int {
	o, args, ok := c.getopt("d:f:c:b:s")
	if !ok {
		return 2
	}
	list, byChar := o.val('f'), false
	if !o.has('f') {
		list, byChar = o.val('c')+o.val('b'), true
	}
	if list == "" {
		c.usageError("say what to keep: -f FIELDS (with -d SEP) or -c CHARS")
		return 2
	}
	rs, err := ranges(list)
	if err != nil {
		c.usageError("%v", err)
		return 2
	}
	sep := "\t"
	if o.has('d') {
		sep = o.val('d')
		if utf8.RuneCountInString(sep) != 1 {
			c.usageError("-d takes one character")
			return 2
		}
	}
	return c.inputs(args, func(in input) error {
		return eachLine(in.r, func(l string) error {
			var out []string
			if byChar {
				var b strings.Builder
				for i, r := range []rune(l) {
					if inRanges(rs, i+1) {
						b.WriteRune(r)
					}
				}
				_, err := io.WriteString(c.out, b.String()+"\n")
				return err
			}
			if !strings.Contains(l, sep) {
				if o.has('s') {
					return nil
				}
				_, err := io.WriteString(c.out, l+"\n")
				return err
			}
			for i, f := range strings.Split(l, sep) {
				if inRanges(rs, i+1) {
					out = append(out, f)
				}
			}
			_, err := io.WriteString(c.out, strings.Join(out, sep)+"\n")
			return err
		})
	})
}

// trSet expands tr's SET: ranges a-z, classes [:upper:], escapes \n.
func trSet(set string) []rune {
	classes := map[string]string{
		"[:upper:]": "A-Z", "[:lower:]": "a-z", "[:digit:]": "0-9", "[:alpha:]": "a-zA-Z",
		"[:alnum:]": "a-zA-Z0-9", "[:space:]": " \t\n\r\v\f", "[:punct:]": "!-/:-@[-`{-~", "[:blank:]": " \t",
	}
	for k, v := range classes {
		set = strings.ReplaceAll(set, k, v)
	}
	var rs []rune
	in := []rune(set)
	unescape := func(i int) (rune, int) {
		if in[i] == '\\' && i+1 < len(in) {
			switch in[i+1] {
			case 'n':
				return '\n', 2
			case 't':
				return '\t', 2
			case 'r':
				return '\r', 2
			case '\\':
				return '\\', 2
			}
			if in[i+1] >= '0' && in[i+1] <= '7' {
				v, n := 0, 1
				for n <= 3 && i+n < len(in) && in[i+n] >= '0' && in[i+n] <= '7' {
					v = v*8 + int(in[i+n]-'0')
					n++
				}
				return rune(v), n
			}
			return in[i+1], 2
		}
		return in[i], 1
	}
	for i := 0; i < len(in); {
		r, n := unescape(i)
		i += n
		if i+1 < len(in) && in[i] == '-' {
			hi, m := unescape(i + 1)
			if hi >= r && hi-r < 1<<16 {
				for x := r; x <= hi; x++ {
					rs = append(rs, x)
				}
				i += 1 + m
				continue
			}
		}
		rs = append(rs, r)
	}
	return rs
}

func cmdTr(s *Shell, c *call) int {
	o, args, ok := c.getopt("dsc")
	if !ok {
		return 2
	}
	if o.has('c') {
		c.usageError("-c is not supported; list the characters you want")
		return 2
	}
	if len(args) == 0 || (!o.has('d') && !o.has('s') && len(args) != 2) {
		c.usageError("tr SET1 SET2 (translate), tr -d SET (delete), tr -s SET (squeeze); tr reads standard input: tr a-z A-Z < file")
		return 2
	}
	from := trSet(args[0])
	var to []rune
	if len(args) > 1 {
		to = trSet(args[1])
	}
	m := map[rune]rune{}
	del := map[rune]bool{}
	for i, r := range from {
		if o.has('d') {
			del[r] = true
			continue
		}
		if len(to) > 0 {
			m[r] = to[min(i, len(to)-1)]
		}
	}
	squeeze := map[rune]bool{}
	if o.has('s') {
		sq := from
		if len(to) > 0 {
			sq = to
		}
		if o.has('d') && len(to) > 0 {
			sq = to
		}
		for _, r := range sq {
			squeeze[r] = true
		}
	}
	br := bufio.NewReader(readerCtx(c.ctx, c.in))
	w := bufio.NewWriter(c.out)
	var last rune = -1
	for {
		r, _, err := br.ReadRune()
		if err != nil {
			break
		}
		if del[r] {
			continue
		}
		if t, ok := m[r]; ok {
			r = t
		}
		if squeeze[r] && r == last {
			continue
		}
		last = r
		if _, err := w.WriteRune(r); err != nil {
			return c.failf("%v", err)
		}
	}
	if err := w.Flush(); err != nil {
		return c.failf("%v", err)
	}
	return 0
}

func cmdTee(s *Shell, c *call) int {
	o, args, ok := c.getopt("a")
	if !ok {
		return 2
	}
	ws := []io.Writer{c.out}
	status := 0
	for _, a := range args {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("%s: %v", a, err)
			continue
		}
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if o.has('a') {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := s.root.OpenFile(rel, flag, 0o644)
		if err != nil {
			status = c.failf("%s: %s", a, errText(err))
			continue
		}
		defer f.Close()
		ws = append(ws, &limitedWriter{w: f, ls: lineOf(c.ctx)})
	}
	if _, err := io.Copy(io.MultiWriter(ws...), readerCtx(c.ctx, c.in)); err != nil {
		return c.failf("%v", err)
	}
	return status
}

func cmdDiff(s *Shell, c *call) int {
	o, args, ok := c.getopt("uq")
	if !ok {
		return 2
	}
	if len(args) != 2 {
		c.usageError("diff compares two files: diff OLD NEW")
		return 2
	}
	var texts [2][]string
	for i, a := range args {
		ls, st := (&call{ctx: c.ctx, sh: s, name: c.name, args: nil, in: c.in, out: c.out, err: c.err, dir: c.dir}).readLines([]string{a})
		if st != 0 {
			return 2
		}
		texts[i] = ls
	}
	a, b := texts[0], texts[1]
	if len(a)*len(b) > 16_000_000 {
		return c.failf("files too long to compare here (%d × %d lines); compare parts with head/tail", len(a), len(b))
	}
	ops := lcsDiff(a, b)
	same := true
	for _, op := range ops {
		if op.kind != '=' {
			same = false
		}
	}
	if same {
		return 0
	}
	if o.has('q') {
		fmt.Fprintln(c.out, s.tf("Files %s and %s differ", args[0], args[1]))
		return 1
	}
	if o.has('u') {
		fmt.Fprintf(c.out, "--- %s\n+++ %s\n", args[0], args[1])
		writeUnified(c.out, ops, a, b)
		return 1
	}
	writeNormal(c.out, ops)
	return 1
}

type diffOp struct {
	kind byte // '=', '-', '+'
	ai   int  // index in a (for '=' and '-')
	bi   int  // index in b (for '=' and '+')
	text string
}

// lcsDiff is the classic longest-common-subsequence table: simple, and
// within the size bound checked by the caller.
func lcsDiff(a, b []string) []diffOp {
	n, m := len(a), len(b)
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, diffOp{'=', i, j, a[i]})
			i++
			j++
		case i < n && (j == m || t[i+1][j] >= t[i][j+1]):
			ops = append(ops, diffOp{'-', i, j, a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', i, j, b[j]})
			j++
		}
	}
	return ops
}

func rangeText(lo, hi int) string { // 1-based inclusive
	if hi <= lo {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d,%d", lo, hi)
}

func writeNormal(w io.Writer, ops []diffOp) {
	for i := 0; i < len(ops); {
		if ops[i].kind == '=' {
			i++
			continue
		}
		j := i
		var del, add []diffOp
		for j < len(ops) && ops[j].kind != '=' {
			if ops[j].kind == '-' {
				del = append(del, ops[j])
			} else {
				add = append(add, ops[j])
			}
			j++
		}
		switch {
		case len(add) == 0:
			fmt.Fprintf(w, "%sd%d\n", rangeText(del[0].ai+1, del[len(del)-1].ai+1), del[0].bi)
		case len(del) == 0:
			fmt.Fprintf(w, "%da%s\n", add[0].ai, rangeText(add[0].bi+1, add[len(add)-1].bi+1))
		default:
			fmt.Fprintf(w, "%sc%s\n", rangeText(del[0].ai+1, del[len(del)-1].ai+1), rangeText(add[0].bi+1, add[len(add)-1].bi+1))
		}
		for _, d := range del {
			fmt.Fprintf(w, "< %s\n", d.text)
		}
		if len(del) > 0 && len(add) > 0 {
			fmt.Fprintln(w, "---")
		}
		for _, a := range add {
			fmt.Fprintf(w, "> %s\n", a.text)
		}
		i = j
	}
}

func writeUnified(w io.Writer, ops []diffOp, a, b []string) {
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == '=' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != '=' {
				end++
				continue
			}
			k := end
			for k < len(ops) && ops[k].kind == '=' && k-end < 2*ctx {
				k++
			}
			if k < len(ops) && ops[k].kind != '=' {
				end = k
				continue
			}
			end = min(end+ctx, len(ops))
			break
		}
		var buf bytes.Buffer
		na, nb := 0, 0
		for _, op := range ops[start:end] {
			switch op.kind {
			case '=':
				buf.WriteString(" " + op.text + "\n")
				na++
				nb++
			case '-':
				buf.WriteString("-" + op.text + "\n")
				na++
			case '+':
				buf.WriteString("+" + op.text + "\n")
				nb++
			}
		}
		as, bs := ops[start].ai+1, ops[start].bi+1
		if na == 0 {
			as--
		}
		if nb == 0 {
			bs--
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", as, na, bs, nb)
		w.Write(buf.Bytes())
		i = end
	}
}

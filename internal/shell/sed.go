package shell

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// sed: addresses (N, $, /re/, A,B), commands s///[gpiN], p, d, q, =.

type sedAddr struct {
	line int // > 0: a line number
	last bool
	re   *regexp.Regexp
}

type sedCmd struct {
	a1, a2  *sedAddr
	neg     bool
	cmd     byte
	re      *regexp.Regexp
	repl    string
	global  bool
	nth     int
	print   bool
	inRange bool
}

func (a *sedAddr) match(n int, last bool, line string) bool {
	switch {
	case a.last:
		return last
	case a.re != nil:
		return a.re.MatchString(line)
	}
	return a.line == n
}

// parseSed reads a script such as "2,5s/a/b/g; /x/d; $p".
func parseSed(script string, extended bool) ([]*sedCmd, error) {
	var cmds []*sedCmd
	p := script
	readRE := func(delim byte) (string, error) {
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			switch {
			case p[i] == '\\' && i+1 < len(p) && p[i+1] == delim:
				b.WriteByte(delim)
				i++
			case p[i] == '\\' && i+1 < len(p):
				b.WriteByte('\\')
				b.WriteByte(p[i+1])
				i++
			case p[i] == delim:
				p = p[i+1:]
				return b.String(), nil
			default:
				b.WriteByte(p[i])
			}
		}
		return "", errorf("unterminated %c...%c in the script", delim, delim)
	}
	addr := func() (*sedAddr, error) {
		switch {
		case p == "":
			return nil, nil
		case p[0] == '$':
			p = p[1:]
			return &sedAddr{last: true}, nil
		case p[0] == '/':
			p = p[1:]
			r, err := readRE('/')
			if err != nil {
				return nil, err
			}
			re, err := compileRE(r, extended, false)
			if err != nil {
				return nil, err
			}
			return &sedAddr{re: re}, nil
		case p[0] >= '0' && p[0] <= '9':
			i := 0
			for i < len(p) && p[i] >= '0' && p[i] <= '9' {
				i++
			}
			n, _ := strconv.Atoi(p[:i])
			p = p[i:]
			return &sedAddr{line: n}, nil
		}
		return nil, nil
	}
	for {
		p = strings.TrimLeft(p, " \t\n;")
		if p == "" {
			return cmds, nil
		}
		c := &sedCmd{}
		var err error
		if c.a1, err = addr(); err != nil {
			return nil, err
		}
		if c.a1 != nil && strings.HasPrefix(p, ",") {
			p = p[1:]
			if c.a2, err = addr(); err != nil {
				return nil, err
			}
			if c.a2 == nil {
				return nil, errors.New("an address is expected after ,")
			}
		}
		p = strings.TrimLeft(p, " ")
		if strings.HasPrefix(p, "!") {
			c.neg = true
			p = strings.TrimLeft(p[1:], " ")
		}
		if p == "" {
			return nil, errors.New("a command is expected (s, p, d, q or =)")
		}
		c.cmd = p[0]
		p = p[1:]
		switch c.cmd {
		case 'p', 'd', 'q', '=':
		case 's':
			if p == "" {
				return nil, errors.New("s needs /RE/REPLACEMENT/")
			}
			delim := p[0]
			p = p[1:]
			r, err := readRE(delim)
			if err != nil {
				return nil, err
			}
			if c.repl, err = readRE(delim); err != nil {
				return nil, err
			}
			icase := false
			for p != "" && strings.IndexByte("gpiI0123456789", p[0]) >= 0 {
				switch f := p[0]; {
				case f == 'g':
					c.global = true
				case f == 'p':
					c.print = true
				case f == 'i' || f == 'I':
					icase = true
				default:
					c.nth = c.nth*10 + int(f-'0')
				}
				p = p[1:]
			}
			if c.re, err = compileRE(r, extended, icase); err != nil {
				return nil, err
			}
		default:
			return nil, errorf("command %q is not supported; use s///, p, d, q or =", c.cmd)
		}
		cmds = append(cmds, c)
	}
}

// expandRepl applies & and \1..\9 of a replacement.
func expandRepl(repl string, line string, m []int) string {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		ch := repl[i]
		switch {
		case ch == '&':
			b.WriteString(line[m[0]:m[1]])
		case ch == '\\' && i+1 < len(repl):
			i++
			d := repl[i]
			switch {
			case d >= '0' && d <= '9':
				k := int(d - '0')
				if 2*k+1 < len(m) && m[2*k] >= 0 {
					b.WriteString(line[m[2*k]:m[2*k+1]])
				}
			case d == 'n':
				b.WriteByte('\n')
			case d == 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(d)
			}
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func (c *sedCmd) substitute(line string) (string, bool) {
	ms := c.re.FindAllStringSubmatchIndex(line, -1)
	if len(ms) == 0 {
		return line, false
	}
	var b strings.Builder
	last, done := 0, false
	for i, m := range ms {
		if (c.nth > 0 && i+1 != c.nth) || (c.nth == 0 && !c.global && i > 0) {
			continue
		}
		b.WriteString(line[last:m[0]])
		b.WriteString(expandRepl(c.repl, line, m))
		last = m[1]
		done = true
	}
	b.WriteString(line[last:])
	return b.String(), done
}

func cmdSed(s *Shell, c *call) int {
	o, args, ok := c.getopt("nEie:")
	if !ok {
		return 2
	}
	script := o.val('e')
	if !o.has('e') {
		if len(args) == 0 {
			c.usageError("a script is needed, e.g. sed 's/old/new/g' file")
			return 2
		}
		script, args = args[0], args[1:]
	}
	cmds, err := parseSed(script, o.has('E'))
	if err != nil {
		c.failf("-e expression: %v", err)
		return 2
	}
	if o.has('i') && len(args) == 0 {
		c.usageError("-i edits files: name them")
		return 2
	}
	for _, cmd := range cmds {
		cmd.inRange = false
	}
	run := func(all []string, w io.Writer) error {
		for n, line := range all {
			last := n == len(all)-1
			deleted, quit := false, false
			for _, cmd := range cmds {
				sel := true
				switch {
				case cmd.a1 != nil && cmd.a2 != nil:
					if cmd.inRange {
						sel = true
						if cmd.a2.match(n+1, last, line) || (cmd.a2.line > 0 && n+1 >= cmd.a2.line) {
							cmd.inRange = false
						}
					} else if cmd.a1.match(n+1, last, line) {
						sel = true
						cmd.inRange = !(cmd.a2.line > 0 && cmd.a2.line <= n+1)
					} else {
						sel = false
					}
				case cmd.a1 != nil:
					sel = cmd.a1.match(n+1, last, line)
				}
				if sel == cmd.neg {
					continue
				}
				switch cmd.cmd {
				case 'p':
					fmt.Fprintln(w, line)
				case 'd':
					deleted = true
				case 'q':
					quit = true
				case '=':
					fmt.Fprintln(w, n+1)
				case 's':
					var done bool
					line, done = cmd.substitute(line)
					if done && cmd.print {
						fmt.Fprintln(w, line)
					}
				}
				if deleted || quit {
					break
				}
			}
			if !deleted && !o.has('n') {
				if _, err := fmt.Fprintln(w, line); err != nil {
					return err
				}
			}
			if quit {
				return nil
			}
		}
		return nil
	}
	if o.has('i') {
		status := 0
		for _, a := range args {
			rel, err := c.resolve(a)
			if err != nil {
				status = c.failf("%s: %v", a, err)
				continue
			}
			b, err := s.root.ReadFile(rel)
			if err == nil && len(b) > maxRead {
				err = errorf("larger than %d MiB", maxRead>>20)
			}
			if err != nil {
				status = c.failf("%s: %s", a, errText(err))
				continue
			}
			var out bytes.Buffer
			run(lines(b), &out)
			if err := s.root.WriteFile(rel, out.Bytes(), 0o644); err != nil {
				status = c.failf("%s: %s", a, errText(err))
			}
		}
		return status
	}
	all, st := c.readLines(args)
	if st != 0 {
		return 2
	}
	if err := run(all, c.out); err != nil {
		return c.failf("%v", err)
	}
	return 0
}

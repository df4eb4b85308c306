package shell

// nano (alias edit): a small full-screen editor over the terminal, with
// the keys of GNU nano students know: arrows, ^O/^S save, ^X exit, ^W
// search, ^K cut a line, ^U paste it. It draws with plain VT100 sequences,
// understood by xterm, PuTTY, the Linux console and Telnet clients.

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

const maxEdit = 4 << 20 // the largest file the editor opens

type editor struct {
	sh       *Shell
	c        *call
	name     string // as given, "" for a new buffer
	lines    [][]rune
	row, col int // cursor in the text
	top      int // first line shown
	left     int // first column shown
	w, h     int
	modified bool
	status   string
	cut      [][]rune
	lastFind string
	out      io.Writer
	keys     <-chan []byte
	pending  []byte
}

func cmdNano(s *Shell, c *call) int {
	_, args, ok := c.getopt("")
	if !ok {
		return 2
	}
	if len(args) > 1 {
		c.usageError("edit one file at a time")
		return 2
	}
	e := &editor{sh: s, c: c, lines: [][]rune{{}}}
	if len(args) == 1 {
		e.name = args[0]
		rel, err := c.resolve(e.name)
		if err != nil {
			return c.failf("%s: %v", e.name, err)
		}
		if fi, err := s.root.Stat(rel); err == nil {
			if fi.IsDir() {
				return c.failf("%s is a directory", e.name)
			}
			if fi.Size() > maxEdit {
				return c.failf("%s is larger than %d MiB: too big to edit here", e.name, maxEdit>>20)
			}
			b, err := s.root.ReadFile(rel)
			if err != nil {
				return c.failf("%s: %s", e.name, errText(err))
			}
			e.load(string(b))
			e.status = s.tf("[ Read %d lines ]", len(e.lines))
		} else {
			e.status = s.t("[ New File ]")
		}
	}
	flush(c.out)
	err := s.rawMode(c.ctx, func(keys <-chan []byte, out io.Writer, w, h int) error {
		e.keys, e.out, e.w, e.h = keys, out, max(w, 20), max(h, 6)
		defer func() {
			io.WriteString(out, "\x1b[?1049l\x1b[0m")
			flush(out)
			// Keys typed after ^X belong to the shell.
			s.tty.in.unread(e.pending)
		}()
		io.WriteString(out, "\x1b[?1049h") // the alternate screen, as nano
		return e.loop(c.ctx)
	})
	if err != nil {
		return c.failf("%v", err)
	}
	return 0
}

func (e *editor) load(text string) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	e.lines = nil
	for _, l := range strings.Split(text, "\n") {
		e.lines = append(e.lines, []rune(l))
	}
}

func (e *editor) text() string {
	var b strings.Builder
	for _, l := range e.lines {
		b.WriteString(string(l))
		b.WriteByte('\n')
	}
	return b.String()
}

// key reads one key: a byte, or an escape sequence, as a string.
func (e *editor) key(ctx context.Context) (string, bool) {
	for {
		if len(e.pending) > 0 {
			b := e.pending
			if b[0] == 0x1b {
				if len(b) >= 2 && (b[1] == '[' || b[1] == 'O') {
					for i := 2; i < len(b); i++ {
						if b[i] >= 0x40 && b[i] <= 0x7e {
							k := string(b[:i+1])
							e.pending = b[i+1:]
							return k, true
						}
					}
					if len(b) < 8 {
						goto more
					}
				}
				if len(b) == 1 {
					goto more
				}
				e.pending = b[1:]
				return "\x1b", true
			}
			if b[0] >= 0x80 {
				if !utf8.FullRune(b) {
					goto more
				}
				_, n := utf8.DecodeRune(b)
				e.pending = b[n:]
				return string(b[:n]), true
			}
			e.pending = b[1:]
			if b[0] == '\r' && len(e.pending) > 0 && (e.pending[0] == '\n' || e.pending[0] == 0) {
				e.pending = e.pending[1:]
			}
			return string(b[:1]), true
		}
	more:
		select {
		case k := <-e.keys:
			e.pending = append(e.pending, k...)
		case <-ctx.Done():
			return "", false
		}
	}
}

// prompt asks a question on the status line and returns the answer.
func (e *editor) prompt(ctx context.Context, q, def string) (string, bool) {
	ans := []rune(def)
	for {
		e.draw()
		fmt.Fprintf(e.out, "\x1b[%d;1H\x1b[7m%s %s\x1b[K\x1b[0m", e.h-1, e.sh.t(q), string(ans))
		flush(e.out)
		k, ok := e.key(ctx)
		if !ok {
			return "", false
		}
		switch k {
		case "\r", "\n":
			return string(ans), true
		case "\x03", "\x07", "\x18": // ^C ^G ^X cancel
			e.status = e.sh.t("[ Cancelled ]")
			return "", false
		case "\x7f", "\b":
			if len(ans) > 0 {
				ans = ans[:len(ans)-1]
			}
		default:
			if r, _ := utf8.DecodeRuneInString(k); len(k) > 0 && r >= 32 && k[0] != 0x1b {
				ans = append(ans, r)
			}
		}
	}
}

func (e *editor) save(ctx context.Context) bool {
	name, ok := e.prompt(ctx, "File Name to Write:", e.name)
	if !ok || name == "" {
		return false
	}
	rel, err := e.c.resolve(name)
	if err == nil {
		var f *os.File
		f, err = e.sh.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			_, err = io.WriteString(f, e.text())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			err = errorf("%s", errText(err))
		}
	}
	if err != nil {
		e.status = e.sh.tf("[ Error writing %s: %v ]", name, err)
		return false
	}
	e.name, e.modified = name, false
	e.status = e.sh.tf("[ Wrote %d lines ]", len(e.lines))
	return true
}

func (e *editor) loop(ctx context.Context) error {
	for {
		e.draw()
		k, ok := e.key(ctx)
		if !ok {
			return nil
		}
		e.status = ""
		line := e.lines[e.row]
		switch k {
		case "\x18": // ^X
			if !e.modified {
				return nil
			}
			ans, ok := e.prompt(ctx, "Save modified buffer? (Y/N):", "")
			if !ok {
				continue
			}
			switch strings.ToLower(ans) {
			case "y", "yes", "o", "oui": // the French (O/N) too
				if e.save(ctx) {
					return nil
				}
			case "n", "no", "non":
				return nil
			}
		case "\x0f", "\x13": // ^O ^S
			e.save(ctx)
		case "\x17": // ^W
			q, ok := e.prompt(ctx, "Search:", e.lastFind)
			if ok && q != "" {
				e.lastFind = q
				e.find(q)
			}
		case "\x0b": // ^K
			e.cut = append(e.cut[:0], line)
			if len(e.lines) == 1 {
				e.lines[0] = []rune{}
			} else {
				e.lines = append(e.lines[:e.row], e.lines[e.row+1:]...)
			}
			e.row = min(e.row, len(e.lines)-1)
			e.col, e.modified = 0, true
		case "\x15": // ^U
			for _, l := range e.cut {
				e.lines = append(e.lines[:e.row], append([][]rune{append([]rune(nil), l...)}, e.lines[e.row:]...)...)
				e.row++
			}
			e.modified = len(e.cut) > 0 || e.modified
		case "\x03": // ^C
			e.status = e.sh.tf("[ line %d/%d, col %d ]", e.row+1, len(e.lines), e.col+1)
		case "\x07": // ^G
			e.status = e.sh.t("^O/^S save  ^X exit  ^W search  ^K cut line  ^U paste  ^A/^E line start/end")
		case "\x01", "\x1b[H", "\x1b[1~", "\x1bOH":
			e.col = 0
		case "\x05", "\x1b[F", "\x1b[4~", "\x1bOF":
			e.col = len(line)
		case "\x1b[A", "\x1bOA":
			e.row = max(e.row-1, 0)
		case "\x1b[B", "\x1bOB":
			e.row = min(e.row+1, len(e.lines)-1)
		case "\x1b[C", "\x1bOC":
			if e.col < len(line) {
				e.col++
			} else if e.row < len(e.lines)-1 {
				e.row, e.col = e.row+1, 0
			}
		case "\x1b[D", "\x1bOD":
			if e.col > 0 {
				e.col--
			} else if e.row > 0 {
				e.row--
				e.col = len(e.lines[e.row])
			}
		case "\x1b[5~":
			e.row = max(e.row-(e.h-4), 0)
		case "\x1b[6~":
			e.row = min(e.row+(e.h-4), len(e.lines)-1)
		case "\r", "\n":
			e.col = min(e.col, len(line))
			rest := append([]rune(nil), line[e.col:]...)
			e.lines[e.row] = line[:e.col]
			e.lines = append(e.lines[:e.row+1], append([][]rune{rest}, e.lines[e.row+1:]...)...)
			e.row, e.col, e.modified = e.row+1, 0, true
		case "\x7f", "\b":
			e.col = min(e.col, len(line))
			if e.col > 0 {
				e.lines[e.row] = append(line[:e.col-1], line[e.col:]...)
				e.col--
				e.modified = true
			} else if e.row > 0 {
				prev := e.lines[e.row-1]
				e.col = len(prev)
				e.lines[e.row-1] = append(prev, line...)
				e.lines = append(e.lines[:e.row], e.lines[e.row+1:]...)
				e.row--
				e.modified = true
			}
		case "\x1b[3~", "\x04": // Delete, ^D
			e.col = min(e.col, len(line))
			if e.col < len(line) {
				e.lines[e.row] = append(line[:e.col], line[e.col+1:]...)
				e.modified = true
			} else if e.row < len(e.lines)-1 {
				e.lines[e.row] = append(line, e.lines[e.row+1]...)
				e.lines = append(e.lines[:e.row+1], e.lines[e.row+2:]...)
				e.modified = true
			}
		default:
			r, _ := utf8.DecodeRuneInString(k)
			if k == "\t" || (r >= 32 && k[0] != 0x1b && r != utf8.RuneError) {
				if e.size() >= maxEdit {
					e.status = e.sh.t("[ The file is too big to grow ]")
					continue
				}
				e.col = min(e.col, len(line))
				nl := append([]rune(nil), line[:e.col]...)
				nl = append(nl, r)
				e.lines[e.row] = append(nl, line[e.col:]...)
				e.col++
				e.modified = true
			}
		}
		e.col = min(e.col, len(e.lines[e.row]))
	}
}

func (e *editor) size() int {
	n := 0
	for _, l := range e.lines {
		n += len(l) + 1
	}
	return n
}

func (e *editor) find(q string) {
	rq := []rune(q)
	for i := 0; i <= len(e.lines); i++ {
		r := (e.row + i) % len(e.lines)
		start := 0
		if i == 0 {
			start = e.col + 1
		}
		l := e.lines[r]
		if start > len(l) {
			continue
		}
		if j := strings.Index(string(l[start:]), q); j >= 0 {
			e.row, e.col = r, start+utf8.RuneCountInString(string(l[start:])[:j])
			return
		}
	}
	_ = rq
	e.status = e.sh.tf("[ \"%s\" not found ]", q)
}

// draw redraws the whole screen: title, text, status, help.
func (e *editor) draw() {
	rows := e.h - 3
	if e.row < e.top {
		e.top = e.row
	}
	if e.row >= e.top+rows {
		e.top = e.row - rows + 1
	}
	if e.col < e.left {
		e.left = e.col
	}
	if e.col >= e.left+e.w-1 {
		e.left = e.col - e.w + 2
	}
	var b strings.Builder
	b.WriteString("\x1b[?25l\x1b[H")
	name := e.name
	if name == "" {
		name = e.sh.t("New Buffer")
	}
	title := e.sh.tf("  labd nano   File: %s", name)
	if e.modified {
		// One key for the whole title: "Modified" alone is the
		// dashboard's column ("Modifié le").
		title = e.sh.tf("  labd nano   File: %s   Modified", name)
	}
	fmt.Fprintf(&b, "\x1b[7m%-*.*s\x1b[0m\r\n", e.w, e.w, title)
	for i := 0; i < rows; i++ {
		b.WriteString("\x1b[K")
		if r := e.top + i; r < len(e.lines) {
			l := e.lines[r]
			if e.left < len(l) {
				l = l[e.left:]
			} else {
				l = nil
			}
			if len(l) > e.w-1 {
				l = l[:e.w-1]
			}
			b.WriteString(strings.ReplaceAll(string(l), "\t", " "))
		}
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\x1b[K%s\r\n", e.status)
	b.WriteString("\x1b[K")
	for i, k := range editorKeys {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "\x1b[7m%s\x1b[0m %s", k[0], e.sh.t(k[1]))
	}
	fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[?25h", e.row-e.top+2, e.col-e.left+1)
	io.WriteString(e.out, b.String())
	flush(e.out)
}

// editorKeys is the help line at the bottom of the editor: key, action.
var editorKeys = [][2]string{{"^O", "Save"}, {"^X", "Exit"}, {"^W", "Search"}, {"^K", "Cut"}, {"^U", "Paste"}, {"^G", "Help"}}

// Package shell is labd's lab shell: a built-in, confined command
// interpreter over a user's home, shared by SSH and Telnet. It never runs a
// host program: every command is Go code in this package, and every file
// operation goes through an os.Root opened on the user's home, so that no
// path ("..", an absolute path, a symlink) leads out of it.
//
// The user sees the home as /home/<user> (pwd) and ~ (prompt); the rest of
// the host's file system does not exist for the shell.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"time"
	"unicode/utf8"

	"golang.org/x/term"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"labd/internal/fsroot"
	"labd/internal/i18n"
	"labd/internal/service"
	"labd/internal/sessions"
)

// started is labd's start time, for uptime.
var started = time.Now()

// Env is what a shell runs with.
type Env struct {
	Deps    service.Deps      // store, sessions, endpoints, layout, config, TLS, logger
	User    string            // the authenticated user
	Proto   string            // "ssh" or "telnet"
	Remote  string            // client addr:port
	Session *sessions.Session // may be nil
	// LineMode makes Interactive read plain lines without echo or line
	// editing: for a client that echoes and edits locally (nc, or a
	// Telnet client that refused WILL ECHO).
	LineMode bool
	// Tr is the language of what the shell writes for people (help, man,
	// messages); nil: server.language of Deps.Config.
	Tr *i18n.Printer
}

// WindowSize is a terminal's size in characters.
type WindowSize struct{ Width, Height int }

// Shell is one user's shell session.
type Shell struct {
	env  Env
	root *os.Root
	home string // virtual path of the home: /home/<user>

	runner *interp.Runner // keeps variables, functions and cwd between lines
	tty    *tty           // the terminal while Interactive runs

	maxSteps int64     // commands one line may run (a test lowers it)
	termW    io.Writer // the line editor, for Tab's list of choices

	hist    *history
	exiting bool
	tr      *i18n.Printer
}

// New opens the user's home and returns a shell over it.
func New(env Env) (*Shell, error) {
	if env.User == "" || strings.ContainsAny(env.User, `/\`) || env.User == "." || env.User == ".." {
		return nil, fmt.Errorf("shell: invalid user %q", env.User)
	}
	dir := env.Deps.Layout.Home(env.User)
	if err := env.Deps.Layout.EnsureHome(env.User); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("shell: open home of %s: %w", env.User, err)
	}
	s := &Shell{env: env, root: root, home: "/home/" + env.User, hist: &history{}, maxSteps: maxSteps, tr: printerOf(env)}
	if s.runner, err = s.newRunner(); err != nil {
		root.Close()
		return nil, fmt.Errorf("shell: interpreter: %w", err)
	}
	return s, nil
}

// Close releases the home.
func (s *Shell) Close() error { return s.root.Close() }

func (s *Shell) hostname() string {
	if c := s.env.Deps.Config; c != nil && c.Server.Hostname != "" {
		return c.Server.Hostname
	}
	return "labd"
}

// prompt is user@host:path$ with the home shown as ~.
func (s *Shell) prompt() string {
	p := s.runner.Dir
	if p == s.home {
		p = "~"
	} else if strings.HasPrefix(p, s.home+"/") {
		p = "~" + strings.TrimPrefix(p, s.home)
	}
	return fmt.Sprintf("%s@%s:%s$ ", s.env.User, s.hostname(), p)
}

// Motd is the message of the day shown after login.
func (s *Shell) Motd() string {
	if c := s.env.Deps.Config; c != nil {
		return c.Shell.Motd
	}
	return ""
}

// Exec runs one command line (ssh host CMD) and returns its exit status.
func (s *Shell) Exec(ctx context.Context, line string, stdout, stderr io.Writer) int {
	return s.run(ctx, line, nil, stdout, stderr)
}

// ExecIO is Exec with a standard input (ssh host 'cat > f' < f).
func (s *Shell) ExecIO(ctx context.Context, line string, stdin io.Reader, stdout, stderr io.Writer) int {
	return s.run(ctx, line, stdin, stdout, stderr)
}

// Interactive runs the line-edited shell over a terminal until
// exit/logout/Ctrl-D or ctx end. rw is the raw terminal stream (bytes typed
// in, bytes to show); resize delivers window sizes.
func (s *Shell) Interactive(ctx context.Context, rw io.ReadWriter, width, height int, resize <-chan WindowSize) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Unblock a pending Read when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		if d, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok {
			_ = d.SetReadDeadline(time.Now())
		} else if c, ok := rw.(io.Closer); ok {
			_ = c.Close()
		}
	})
	defer stop()
	ib := newInbox(rw)
	if s.env.LineMode {
		return s.lineMode(ctx, rw, ib)
	}
	in := &ctrlCReader{r: ib}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, rw}, s.prompt())
	s.hist.ctrlC = in
	t.History = s.hist
	t.AutoCompleteCallback = s.complete
	s.termW = t
	defer func() { s.termW = nil }()
	if width <= 0 || height <= 0 {
		width, height = 80, 24
	}
	width, height = clampSize(width, height)
	_ = t.SetSize(width, height)
	// Command output goes straight to the stream, in few writes, with LF
	// made CR LF: while a command runs the line editor shows nothing, so
	// it need not be involved.
	out := &flushWriter{w: &crlfWriter{w: rw}}
	tt := &tty{in: ib, out: out, echo: true, width: width, height: height}
	s.tty = tt
	defer func() { s.tty = nil }()
	if resize != nil {
		// The goroutine keeps its own tty: s.tty is cleared when this
		// returns, possibly before the goroutine sees ctx end.
		// It is stopped through its own channel: cancelling ctx here
		// would close the stream before the caller sends the exit status.
		quit, done := make(chan struct{}), make(chan struct{})
		defer func() { close(quit); <-done }()
		go func() {
			defer close(done)
			for {
				select {
				case <-quit:
					return
				case <-ctx.Done():
					return
				case ws, ok := <-resize:
					if !ok {
						return
					}
					if ws.Width > 0 && ws.Height > 0 {
						w, h := clampSize(ws.Width, ws.Height)
						_ = t.SetSize(w, h)
						tt.mu.Lock()
						tt.width, tt.height = w, h
						tt.mu.Unlock()
					}
				}
			}
		}()
	}
	if m := s.Motd(); m != "" {
		fmt.Fprintf(t, "%s\n", strings.TrimRight(m, "\n"))
	}
	for {
		t.SetPrompt(s.prompt())
		line, err := t.ReadLine()
		if errors.Is(err, term.ErrPasteIndicator) {
			err = nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				fmt.Fprint(rw, "logout\r\n")
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if s.hist.interrupted {
			s.hist.interrupted = false
			continue
		}
		// An open for/while/if, quote or here-document goes on with "> ".
		for s.Incomplete(line) && len(line) < 64<<10 && err == nil {
			t.SetPrompt("> ")
			var more string
			more, err = t.ReadLine()
			if s.hist.interrupted {
				s.hist.interrupted = false
				err = errAbandoned
			}
			line += "\n" + more
		}
		if errors.Is(err, errAbandoned) {
			continue
		}
		if err != nil {
			fmt.Fprintf(rw, "\r\nlabsh: %s\r\n", s.t("syntax error: unexpected end of file"))
			continue
		}
		line, shown, err := s.expandBang(line)
		if err != nil {
			fmt.Fprintf(out, "labsh: %v\n", s.trArg(err))
			out.Flush()
			continue
		}
		if shown {
			fmt.Fprintf(out, "%s\n", line)
		}
		s.runTTY(ctx, line, out)
		if s.exiting {
			return nil
		}
	}
}

// runTTY runs a line typed on the terminal: its standard input is the
// terminal, Ctrl-C interrupts it.
func (s *Shell) runTTY(ctx context.Context, line string, out *flushWriter) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stdin, end := s.tty.session(cancel)
	var in io.Reader
	if stdin != nil {
		in = stdin
	}
	s.run(lctx, line, in, out, out)
	end()
	out.Flush()
}

// lineMode reads plain lines: the client echoes and edits them itself.
func (s *Shell) lineMode(ctx context.Context, rw io.ReadWriter, ib *inbox) error {
	out := &flushWriter{w: &crlfWriter{w: rw}}
	s.tty = &tty{in: ib, out: out, echo: false, width: 80, height: 24}
	defer func() { s.tty = nil }()
	lr := newLineReader(ib)
	if m := s.Motd(); m != "" {
		fmt.Fprintf(out, "%s\n", strings.TrimRight(m, "\n"))
	}
	for {
		io.WriteString(out, s.prompt())
		out.Flush()
		line, err := lr.ReadLine()
		// What was typed after the line is the command's input (a pasted
		// mail body) or the next lines: the inbox hands it on.
		if lr.lastCR && len(lr.buf) > 0 && (lr.buf[0] == '\n' || lr.buf[0] == 0) {
			lr.buf, lr.lastCR = lr.buf[1:], false
		}
		ib.unread(lr.buf)
		lr.buf = nil
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for s.Incomplete(line) && len(line) < 64<<10 {
			io.WriteString(out, "> ")
			out.Flush()
			more, err := lr.ReadLine()
			if err != nil {
				break
			}
			line += "\n" + more
		}
		if strings.TrimSpace(line) != "" {
			s.hist.Add(line)
		}
		line, shown, err := s.expandBang(line)
		if err != nil {
			fmt.Fprintf(out, "labsh: %v\n", s.trArg(err))
			continue
		}
		if shown {
			fmt.Fprintf(out, "%s\n", line)
		}
		s.runTTY(ctx, line, out)
		if s.exiting {
			return nil
		}
	}
}

var errAbandoned = errors.New("line abandoned")

// Incomplete reports whether text needs more lines to be a command (an
// open loop, quote or here-document), as the "> " prompt of sh.
func (s *Shell) Incomplete(text string) bool {
	_, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(text), "")
	// The parser does not mark an open here-document as incomplete.
	return syntax.IsIncomplete(err) || (err != nil && strings.Contains(err.Error(), "unclosed here-document"))
}

// run parses and runs one line in the interpreter.
func (s *Shell) run(ctx context.Context, line string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
	if err == nil {
		err = prepare(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "labsh: %v\n", s.trArg(err))
		return 2
	}
	if len(f.Stmts) == 0 {
		return 0
	}
	ls := &lineState{goroutines: runtime.NumGoroutine()}
	// The line's commands, background jobs (&) too, end with the line.
	ctx, cancel := context.WithCancel(context.WithValue(ctx, lineKey{}, ls))
	defer cancel()
	out, errw := &limitedWriter{w: stdout, ls: ls}, &limitedWriter{w: stderr, ls: ls}
	if err := interp.StdIO(stdin, out, errw)(s.runner); err != nil {
		fmt.Fprintf(stderr, "labsh: %v\n", s.trArg(err))
		return 2
	}
	defer interp.StdIO(nil, io.Discard, io.Discard)(s.runner)
	err = s.runner.Run(ctx, f)
	if code := interp.ExitStatus(0); errors.As(err, &code) {
		if s.runner.Exited() {
			s.exiting = true
		}
		return int(code)
	}
	switch {
	case err == nil:
		if s.runner.Exited() {
			s.exiting = true
		}
		return 0
	case errors.Is(err, errLimit):
		fmt.Fprintf(stderr, "\nlabsh: %s\n", s.tf("stopped: %v", strings.TrimPrefix(fmt.Sprint(s.trArg(err)), "limit: ")))
		fresh := &lineState{goroutines: runtime.NumGoroutine()}
		s.dropBigVars(context.WithValue(context.WithoutCancel(ctx), lineKey{}, fresh), stderr)
		return 124
	case ctx.Err() != nil:
		return 130
	}
	fmt.Fprintf(stderr, "labsh: %v\n", s.trArg(err))
	return 2
}

// call is one command invocation.
type call struct {
	ctx  context.Context
	sh   *Shell
	name string
	args []string
	in   io.Reader
	out  io.Writer
	err  io.Writer
	dir  string // the working directory, virtual (/home/alice/...)
}

func (c *call) failf(format string, a ...any) int {
	fmt.Fprintf(c.err, "%s: %s\n", c.name, c.sh.tf(format, a...))
	return 1
}

// resolveFrom turns a user path into a path relative to the home.
func (c *call) resolve(p string) (string, error) {
	dir := c.dir
	if dir == "" {
		dir = c.sh.home
	}
	return c.sh.resolveFrom(dir, p)
}

// errEscape is what any path outside the home gets.
var errEscape = errors.New("permission denied (the lab shell only reaches your home)")

// resolveFrom turns a user path into a path relative to the home for os.Root.
// ~ and /home/<user> name the home; any other absolute path, or a ".."
// above the home, is refused.
func (s *Shell) resolveFrom(dir, p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	switch {
	case p == "~":
		p = s.home
	case strings.HasPrefix(p, "~/"):
		p = s.home + p[1:]
	case !strings.HasPrefix(p, "/"):
		p = path.Join(dir, p)
	}
	return s.relOf(p)
}

// errText shortens an os error to what a shell prints.
func errText(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, os.ErrExist):
		return "File exists"
	case errors.Is(err, os.ErrPermission):
		return "Permission denied"
	case fsroot.IsEscape(err):
		return errEscape.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}

// history is the Terminal's history, also read by the history command. It
// drops empty lines, lines interrupted by Ctrl-C and lines typed as input
// to a command (a mail body).
type history struct {
	lines       []string
	ctrlC       *ctrlCReader
	interrupted bool
	skip        bool
}

const maxHistory = 500

func (h *history) Add(entry string) {
	if h.ctrlC != nil && h.ctrlC.pending > 0 && strings.HasSuffix(entry, "^C") {
		h.ctrlC.pending--
		h.interrupted = true
		return
	}
	if h.skip || strings.TrimSpace(entry) == "" {
		return
	}
	if n := len(h.lines); n > 0 && h.lines[n-1] == entry {
		return
	}
	h.lines = append(h.lines, entry)
	if len(h.lines) > maxHistory {
		h.lines = h.lines[len(h.lines)-maxHistory:]
	}
}

func (h *history) Len() int { return len(h.lines) }

// At returns the nth most recent entry (0 is the latest).
func (h *history) At(n int) string { return h.lines[len(h.lines)-1-n] }

// ctrlCReader prepares the bytes typed for x/term's Terminal:
//   - Ctrl-C becomes "end of line, show ^C, Enter": the Terminal otherwise
//     ends ReadLine with io.EOF on Ctrl-C, and the shell wants it to
//     abandon the line like bash does;
//   - a byte that is not valid UTF-8 (a Telnet 255, Latin-1 text) becomes
//     '?': the Terminal would otherwise wait forever for the rest of a
//     character that never comes;
//   - characters beyond maxLine on one line are dropped, as a Unix tty in
//     canonical mode drops them (MAX_CANON): the Terminal turns the whole
//     line into a string at every key (for the completion callback), so
//     a pasted megabyte would cost minutes of CPU (1.5 s for 64 KiB,
//     growing with the square).
type ctrlCReader struct {
	r       io.Reader
	buf     []byte
	carry   []byte // the start of a UTF-8 sequence cut by a read
	pending int
	// chars counts the characters typed on the current line (backspace
	// takes one off); esc is the state of an escape sequence (arrows),
	// whose bytes are not characters: 1 after ESC, 2 inside CSI or SS3.
	chars, esc int
}

// keep says whether the ASCII byte b goes to the line editor, counting
// the characters of the line.
func (c *ctrlCReader) keep(b byte) bool {
	switch {
	case c.esc == 1:
		c.esc = 0
		if b == '[' || b == 'O' {
			c.esc = 2
		}
		return true
	case c.esc == 2:
		if b >= 0x40 && b <= 0x7e {
			c.esc = 0
		}
		return true
	case b == 0x1b:
		c.esc = 1
		return true
	case b == '\r' || b == '\n' || b == 3:
		c.chars = 0
		return true
	case b == 8 || b == 127:
		c.chars = max(c.chars-1, 0)
		return true
	case b < ' ' && b != '\t':
		return true // editing keys
	}
	return c.char()
}

// char counts one character of the line, false beyond maxLine.
func (c *ctrlCReader) char() bool {
	if c.chars >= maxLine {
		return false
	}
	c.chars++
	return true
}

func (c *ctrlCReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		tmp := make([]byte, len(c.carry)+max(len(p), 64))
		copy(tmp, c.carry)
		n, err := c.r.Read(tmp[len(c.carry):])
		in := tmp[:len(c.carry)+n]
		c.carry = nil
		if n == 0 && err != nil {
			return 0, err
		}
		for len(in) > 0 {
			b := in[0]
			if b < utf8.RuneSelf {
				switch {
				case !c.keep(b):
				case b == 3:
					c.buf = append(c.buf, 5, '^', 'C', '\r')
					c.pending++
				default:
					c.buf = append(c.buf, b)
				}
				in = in[1:]
				if b == '\r' && len(in) > 0 && (in[0] == '\n' || in[0] == 0) {
					c.buf = append(c.buf, '\n')
					in = in[1:]
				}
				if u, ok := c.r.(interface{ unread([]byte) }); ok && (b == '\r' || b == '\n' || b == 3) {
					// The line ends here: what follows is typed ahead for
					// the command (its standard input), not for the editor.
					u.unread(in)
					break
				}
				continue
			}
			if !utf8.FullRune(in) {
				c.carry = append([]byte(nil), in...)
				break
			}
			r, size := utf8.DecodeRune(in)
			c.esc = 0 // a character ends an escape sequence
			switch {
			case !c.char():
			case r == utf8.RuneError && size == 1:
				c.buf = append(c.buf, '?')
			default:
				c.buf = append(c.buf, in[:size]...)
			}
			in = in[size:]
		}
		if err != nil && len(c.buf) == 0 {
			return 0, err
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// crlfWriter turns LF into CRLF for a terminal in line mode.
type crlfWriter struct{ w io.Writer }

func (c *crlfWriter) Write(p []byte) (int, error) {
	if !strings.ContainsRune(string(p), '\n') {
		return c.w.Write(p)
	}
	out := make([]byte, 0, len(p)+8)
	for i, b := range p {
		if b == '\n' && (i == 0 || p[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lineReader reads lines ended by CR, LF, CR LF or CR NUL.
type lineReader struct {
	r      io.Reader
	buf    []byte
	lastCR bool
}

func newLineReader(r io.Reader) *lineReader { return &lineReader{r: r} }

const maxLine = 4096

func (l *lineReader) ReadLine() (string, error) {
	var line []byte
	for {
		for len(l.buf) > 0 {
			b := l.buf[0]
			l.buf = l.buf[1:]
			if l.lastCR && (b == '\n' || b == 0) {
				l.lastCR = false
				continue
			}
			l.lastCR = false
			switch b {
			case '\r':
				l.lastCR = true
				return string(line), nil
			case '\n':
				return string(line), nil
			case 4: // Ctrl-D
				if len(line) == 0 {
					return "", io.EOF
				}
			case 3: // Ctrl-C
				line = line[:0]
			case 8, 127:
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
			default:
				if len(line) < maxLine {
					line = append(line, b)
				}
			}
		}
		tmp := make([]byte, 512)
		n, err := l.r.Read(tmp)
		l.buf = tmp[:n]
		if n == 0 && err != nil {
			if len(line) > 0 && errors.Is(err, io.EOF) {
				return string(line), nil
			}
			return "", err
		}
	}
}

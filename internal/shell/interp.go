package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Limits of one command line. A student's loop, a recursive function or a
// huge expansion must end with a message, never take the daemon down: the
// interpreter runs inside labd, so its memory, goroutines and Go stack are
// labd's.
const (
	maxSteps      = 1_000_000 // commands run (function calls, builtins, loop turns)
	maxGoroutines = 300       // commands running at once (pipes, &)
	maxFrames     = 6000      // Go stack frames: about 300 nested function calls
	maxVarBytes   = 4 << 20   // all variables together
	maxArgBytes   = 4 << 20   // the words of one command
	maxOutBytes   = 64 << 20  // bytes written by one line (terminal, files, captures)
	maxBraceWords = 100_000   // words one brace expansion may make
)

// errLimit marks a line stopped by a limit.
var errLimit = errors.New("limit")

func limitf(format string, a ...any) error {
	return fmt.Errorf("%w: %w", errLimit, errorf(format, a...))
}

// tickName is an internal command labd inserts into loops and after
// assignments, so that limits are checked even in a loop that calls
// nothing (for ((;;)); do a=$a$a; done).
const tickName = "labsh:tick"

// lineState is what the limits count during one command line.
type lineState struct {
	steps      atomic.Int64
	out        atomic.Int64
	goroutines int
}

// newRunner builds the interpreter with every handler routed to labd: no
// host program runs and no path outside the home is opened.
func (s *Shell) newRunner() (*interp.Runner, error) {
	env := []string{
		"HOME=" + s.home,
		"USER=" + s.env.User,
		"LOGNAME=" + s.env.User,
		"SHELL=/bin/labsh",
		"PATH=/bin",
		"TERM=xterm",
		"LANG=C.UTF-8",
		"HOSTNAME=" + s.hostname(),
		"PWD=" + s.home,
		"PS1=\\u@\\h:\\w\\$ ",
	}
	return interp.New(
		interp.Env(expand.ListEnviron(env...)),
		interp.StdIO(nil, io.Discard, io.Discard),
		interp.CallHandler(s.callHandler),
		interp.ExecHandlers(func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			// next (the default handler) runs host programs: never call it.
			return s.execHandler
		}),
		interp.OpenHandler(s.openHandler),
		interp.StatHandler(s.statHandler),
		interp.ReadDirHandler2(s.readDirHandler),
		interp.AccessHandler(s.accessHandler),
		func(r *interp.Runner) error {
			r.Dir = s.home // virtual: the handlers map it to the home
			return nil
		},
	)
}

// overrides are interpreter builtins that labd answers itself: they would
// look at the host (type, command -v: PATH lookups), are not implemented by
// the interpreter (help, history), or need labd's limits (printf).
var overrides = map[string]bool{
	"help": true, "history": true, "logout": true, "type": true, "which": true,
	"printf": true, "kill": true, "hash": true, "ulimit": true, "umask": true,
	"times": true, "jobs": true, "fg": true, "bg": true, "suspend": true,
}

// lineKey carries a line's lineState in the interpreter's context: a
// command still running from an earlier line (a background job) counts
// against its own line, which has ended and cancelled it.
type lineKey struct{}

// lineOf is the lineState of the line ctx belongs to (nil outside one).
func lineOf(ctx context.Context) *lineState {
	ls, _ := ctx.Value(lineKey{}).(*lineState)
	return ls
}

func (s *Shell) callHandler(ctx context.Context, args []string) ([]string, error) {
	ls, _ := ctx.Value(lineKey{}).(*lineState)
	if ls == nil {
		return nil, limitf("a command ran outside of a command line")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := ls.steps.Add(1)
	if n > s.maxSteps {
		return nil, limitf("more than %d commands in one line; use smaller loops", s.maxSteps)
	}
	if n := runtime.NumGoroutine() - ls.goroutines; n > maxGoroutines {
		return nil, limitf("more than %d commands running at once (a function piping into itself?)", maxGoroutines)
	}
	// Walking the stack costs; a recursion deepens by a few dozen frames
	// per call, so a look every 16 calls is enough.
	var pc [1]uintptr
	if n%16 == 0 && runtime.Callers(maxFrames, pc[:]) > 0 {
		return nil, limitf("functions nested too deeply (a function calling itself without end?)")
	}
	size := 0
	for _, a := range args {
		size += len(a)
	}
	if size > maxArgBytes {
		return nil, limitf("the words of %s are over %d MiB", args[0], maxArgBytes>>20)
	}
	hc := interp.HandlerCtx(ctx)
	if args[0] == tickName && varBytes(hc.Env.Each) > maxVarBytes {
		// Checked after each assignment and at each loop turn: where
		// variables grow.
		return nil, limitf("the variables hold over %d MiB", maxVarBytes>>20)
	}
	name := args[0]
	if len(args) == 2 && args[1] == "--help" && name != "echo" {
		// An interpreter builtin's --help is labd's help, in the
		// class's language, not the interpreter's error.
		if _, ok := commands[name]; ok {
			return []string{"labsh:" + name, "--help"}, nil
		}
		if _, ok := shellBuiltins[name]; ok {
			return []string{"labsh:man", name}, nil
		}
	}
	switch {
	case name == "cd":
		return s.cdCheck(hc, args)
	case name == "command" && len(args) > 1 && (args[1] == "-v" || args[1] == "-V"):
		return append([]string{"type"}, args[2:]...), nil
	case overrides[name]:
		if _, ok := commands[name]; ok {
			// A name that is not an interpreter builtin reaches the
			// exec handler, i.e. labd's command.
			return append([]string{"labsh:" + name}, args[1:]...), nil
		}
	}
	return args, nil
}

// cdCheck gives cd the messages of a real shell (and the confinement's)
// before the interpreter's cd changes the directory.
func (s *Shell) cdCheck(hc interp.HandlerContext, args []string) ([]string, error) {
	if len(args) > 2 {
		fmt.Fprintf(hc.Stderr, "cd: %s\n", s.t("too many arguments"))
		return []string{"false"}, nil
	}
	target := s.home
	if len(args) == 2 {
		target = args[1]
	}
	if target == "-" {
		return args, nil
	}
	rel, err := s.resolveFrom(hc.Dir, target)
	if err != nil {
		fmt.Fprintf(hc.Stderr, "cd: %s: %v\n", target, s.trArg(err))
		return []string{"false"}, nil
	}
	fi, err := s.root.Stat(rel)
	if err != nil {
		fmt.Fprintf(hc.Stderr, "cd: %s: %s\n", target, s.trArg(errText(err)))
		return []string{"false"}, nil
	}
	if !fi.IsDir() {
		fmt.Fprintf(hc.Stderr, "cd: %s: %s\n", target, s.t("Not a directory"))
		return []string{"false"}, nil
	}
	return []string{"cd", s.virtual(rel)}, nil
}

// execHandler runs every command that is not a function or an interpreter
// builtin: labd's builtins, else 127.
func (s *Shell) execHandler(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	name := strings.TrimPrefix(args[0], "labsh:")
	if args[0] == tickName {
		if hc.LastExitStatus != 0 {
			return interp.ExitStatus(uint8(hc.LastExitStatus))
		}
		return nil
	}
	if strings.Contains(name, "/") {
		fmt.Fprintf(hc.Stderr, "%s: %s\n", args[0], s.t("the lab shell runs no program files, only its own commands (type help)"))
		return interp.ExitStatus(126)
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(hc.Stderr, "%s: %s\n", name, s.t("command not found (type help for the list of commands)"))
		return interp.ExitStatus(127)
	}
	cl := &call{
		ctx:  ctx,
		sh:   s,
		name: name,
		args: args[1:],
		in:   stdinOf(hc.Stdin),
		out:  s.bounded(ctx, hc.Stdout),
		err:  s.bounded(ctx, hc.Stderr),
		dir:  hc.Dir,
	}
	if len(cl.args) == 1 && cl.args[0] == "--help" && name != "echo" {
		fmt.Fprintf(cl.out, "%s\n%s\n", s.tf("usage: %s", c.usage), s.t(c.help))
		return nil
	}
	st := c.run(s, cl)
	if ctx.Err() != nil && st == 0 {
		st = 130
	}
	if st != 0 {
		return interp.ExitStatus(uint8(st))
	}
	return nil
}

// stdinOf gives a command its standard input, never a nil reader, and a
// pipe read that a cancelled line interrupts.
func stdinOf(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	if f, ok := r.(*os.File); ok && f == nil {
		return strings.NewReader("")
	}
	return r
}

// bounded counts what a command writes against the line's output budget.
// Pipes between commands are not counted: what reads them is.
func (s *Shell) bounded(ctx context.Context, w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	if _, ok := w.(*os.File); ok {
		return w
	}
	if _, ok := w.(*limitedWriter); ok {
		return w
	}
	return &limitedWriter{w: w, ls: lineOf(ctx)}
}

type limitedWriter struct {
	w  io.Writer
	ls *lineState
}

var errOutputLimit = limitf("more than %d MiB of output in one line", maxOutBytes>>20)

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.ls != nil && l.ls.out.Add(int64(len(p))) > maxOutBytes {
		return 0, errOutputLimit
	}
	return l.w.Write(p)
}

// virtualPath makes an interpreter path absolute and clean.
func virtualPath(dir, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = path.Join(dir, p)
	}
	return path.Clean(p)
}

// relOf maps a virtual absolute path to a path inside the home.
func (s *Shell) relOf(abs string) (string, error) {
	abs = path.Clean(abs)
	if abs == s.home {
		return ".", nil
	}
	if !strings.HasPrefix(abs, s.home+"/") {
		return "", errEscape
	}
	return strings.TrimPrefix(abs, s.home+"/"), nil
}

// virtual is the user's view of a path inside the home.
func (s *Shell) virtual(rel string) string {
	if rel == "." || rel == "" {
		return s.home
	}
	return s.home + "/" + rel
}

func (s *Shell) openHandler(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	if name == "/dev/null" {
		return &devNull{ls: lineOf(ctx)}, nil
	}
	rel, err := s.relOf(virtualPath(hc.Dir, name))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := s.root.OpenFile(rel, flag, perm.Perm()&^0o022)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: errors.New(errText(err))}
	}
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return &limitedFile{File: f, ls: lineOf(ctx)}, nil
	}
	return f, nil
}

// limitedFile is a file a redirection writes, within the line's budget.
type limitedFile struct {
	*os.File
	ls *lineState
}

func (l *limitedFile) Write(p []byte) (int, error) {
	if l.ls != nil && l.ls.out.Add(int64(len(p))) > maxOutBytes {
		return 0, errOutputLimit
	}
	return l.File.Write(p)
}

type devNull struct{ ls *lineState }

func (d *devNull) Read([]byte) (int, error) { return 0, io.EOF }
func (d *devNull) Write(p []byte) (int, error) {
	if d.ls != nil && d.ls.out.Add(int64(len(p))) > maxOutBytes {
		return 0, errOutputLimit
	}
	return len(p), nil
}
func (d *devNull) Close() error { return nil }

func (s *Shell) statHandler(ctx context.Context, name string, follow bool) (fs.FileInfo, error) {
	hc := interp.HandlerCtx(ctx)
	rel, err := s.relOf(virtualPath(hc.Dir, name))
	if err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if follow {
		return s.root.Stat(rel)
	}
	return s.root.Lstat(rel)
}

func (s *Shell) readDirHandler(ctx context.Context, name string) ([]fs.DirEntry, error) {
	hc := interp.HandlerCtx(ctx)
	rel, err := s.relOf(virtualPath(hc.Dir, name))
	if err != nil {
		// Outside the home a pattern matches nothing: it stays as typed,
		// and the command says the path is out of reach.
		return nil, nil
	}
	entries, err := fs.ReadDir(s.root.FS(), rel)
	if err != nil {
		return nil, nil // a link out of the home, a file: no match
	}
	return entries, nil
}

func (s *Shell) accessHandler(ctx context.Context, name string, mode interp.AccessMode) error {
	fi, err := s.statHandler(ctx, name, true)
	if err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	if mode&interp.AccessRead != 0 && perm&0o400 == 0 ||
		mode&interp.AccessWrite != 0 && perm&0o200 == 0 ||
		mode&interp.AccessExec != 0 && perm&0o100 == 0 {
		return &os.PathError{Op: "access", Path: name, Err: os.ErrPermission}
	}
	return nil
}

var braceRange = regexp.MustCompile(`\{(-?\d+)\.\.(-?\d+)(?:\.\.-?\d+)?\}|\{[^{}]*,[^{}]*\}`)

// prepare checks a parsed line for what the lab shell refuses and inserts
// the limit checks into loops and after assignments.
func prepare(f *syntax.File) error {
	var err error
	wrapped := map[syntax.Command]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if err != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.ProcSubst:
			err = errors.New("process substitution <(...) is not supported; use a pipe or a file")
		case *syntax.CoprocClause:
			err = errors.New("coproc is not supported; use a pipe")
		case *syntax.Word:
			words := 1
			for _, p := range n.Parts {
				if l, ok := p.(*syntax.Lit); ok {
					for _, m := range braceRange.FindAllStringSubmatch(l.Value, -1) {
						k := strings.Count(m[0], ",") + 1
						if m[1] != "" {
							a, _ := strconv.Atoi(m[1])
							b, _ := strconv.Atoi(m[2])
							k = max(a-b, b-a) + 1
						}
						if k <= 0 || words > maxBraceWords/k {
							err = errorf("brace expansion makes more than %d words; use seq", maxBraceWords)
							return false
						}
						words *= k
					}
				}
			}
		case *syntax.WhileClause:
			n.Cond = append([]*syntax.Stmt{tickStmt()}, n.Cond...)
			n.Do = append([]*syntax.Stmt{tickStmt()}, n.Do...)
		case *syntax.ForClause:
			n.Do = append([]*syntax.Stmt{tickStmt()}, n.Do...)
		case *syntax.Stmt:
			if wrapped[n.Cmd] {
				break
			}
			switch c := n.Cmd.(type) {
			case *syntax.CallExpr:
				if len(c.Args) == 0 && len(c.Assigns) > 0 {
					wrapped[c] = true
					n.Cmd = andTick(c)
				}
			case *syntax.DeclClause:
				if helpOf(c) {
					// export --help: labd's help, not declare's error.
					n.Cmd = &syntax.CallExpr{Args: []*syntax.Word{litWord("labsh:man"), litWord(c.Variant.Value)}}
					break
				}
				wrapped[c] = true
				n.Cmd = andTick(c)
			}
		}
		return true
	})
	return err
}

// helpOf says whether a declaration (export, local, declare) asks for its
// --help.
func helpOf(c *syntax.DeclClause) bool {
	if len(c.Args) != 1 || c.Variant == nil {
		return false
	}
	a := c.Args[0]
	_, known := shellBuiltins[c.Variant.Value]
	return known && a.Naked && a.Name == nil && a.Value != nil && a.Value.Lit() == "--help"
}

func litWord(s string) *syntax.Word {
	return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: s}}}
}

func tickStmt() *syntax.Stmt {
	return &syntax.Stmt{Cmd: &syntax.CallExpr{Args: []*syntax.Word{{Parts: []syntax.WordPart{&syntax.Lit{Value: tickName}}}}}}
}

// andTick makes "a=$a$a" into "a=$a$a && labsh:tick": the status of a
// failed assignment is kept, and a successful one is checked.
func andTick(c syntax.Command) syntax.Command {
	return &syntax.BinaryCmd{Op: syntax.AndStmt, X: &syntax.Stmt{Cmd: c}, Y: tickStmt()}
}

// varBytes is the size of the variables.
func varBytes(each func(func(string, expand.Variable) bool)) int {
	size := 0
	for _, vr := range each {
		size += varSize(vr)
	}
	return size
}

func varSize(vr expand.Variable) int {
	size := len(vr.Str)
	for _, v := range vr.List {
		size += len(v)
	}
	for k, v := range vr.Map {
		size += len(k) + len(v)
	}
	return size
}

// dropBigVars unsets the variables that made a line hit the limit, so
// that the next line works.
func (s *Shell) dropBigVars(ctx context.Context, stderr io.Writer) {
	for name, vr := range s.runner.Vars {
		if n := varSize(vr); n > 64<<10 {
			f, err := syntax.NewParser().Parse(strings.NewReader("unset "+name), "")
			if err == nil {
				_ = s.runner.Run(ctx, f)
				fmt.Fprintf(stderr, "labsh: %s\n", s.tf("variable %s (%d KiB) unset", name, n>>10))
			}
		}
	}
}

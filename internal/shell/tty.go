package shell

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// inbox holds the bytes typed on the terminal. One goroutine reads the
// client's stream all the time, so that Ctrl-C is seen while a command
// runs; the line editor (at the prompt) or the running command (its
// standard input, or the editor in raw mode) takes the bytes from here.
type inbox struct {
	mu sync.Mutex
	// head is what was put back (unread), read before buf; buf is what
	// the client sent. Reads take from the front of either without
	// moving the rest: a pasted megabyte read 256 bytes at a time by the
	// line editor, which puts back what follows each line end, once cost
	// a copy of everything waiting per read (0.5 GB for 512 KiB).
	head, buf []byte
	err       error
	notify    chan struct{}
}

func newInbox(r io.Reader) *inbox {
	in := &inbox{notify: make(chan struct{}, 1)}
	go func() {
		tmp := make([]byte, 4096)
		for {
			n, err := r.Read(tmp)
			in.mu.Lock()
			if len(in.head)+len(in.buf) < 1<<20 { // typed ahead beyond 1 MiB is dropped
				in.buf = append(in.buf, tmp[:n]...)
			}
			if err != nil {
				in.err = err
			}
			in.mu.Unlock()
			in.signal()
			if err != nil {
				return
			}
		}
	}()
	return in
}

func (in *inbox) signal() {
	select {
	case in.notify <- struct{}{}:
	default:
	}
}

var errStopped = errors.New("stopped")

// take returns what was typed, waiting for it until stop is closed.
func (in *inbox) take(stop <-chan struct{}) ([]byte, error) {
	for {
		in.mu.Lock()
		if b := in.takeLocked(); len(b) > 0 {
			in.mu.Unlock()
			return b, nil
		}
		err := in.err
		in.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-in.notify:
		case <-stop:
			return nil, errStopped
		}
	}
}

// takeLocked returns everything waiting; in.mu is held.
func (in *inbox) takeLocked() []byte {
	b := in.buf
	if len(in.head) > 0 {
		b = append(in.head, in.buf...)
	}
	in.head, in.buf = nil, nil
	return b
}

// takeNow returns what was typed so far, without waiting.
func (in *inbox) takeNow() []byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.takeLocked()
}

// unread puts bytes back in front.
func (in *inbox) unread(b []byte) {
	if len(b) == 0 {
		return
	}
	in.mu.Lock()
	in.head = append(append([]byte(nil), b...), in.head...)
	in.mu.Unlock()
	in.signal()
}

// Read is the line editor's view: it blocks until bytes come.
func (in *inbox) Read(p []byte) (int, error) {
	for {
		in.mu.Lock()
		if len(in.head)+len(in.buf) > 0 {
			n := copy(p, in.head)
			in.head = in.head[n:]
			m := copy(p[n:], in.buf)
			in.buf = in.buf[m:]
			if len(in.head) == 0 {
				in.head = nil
			}
			if len(in.buf) == 0 {
				in.buf = nil
			}
			in.mu.Unlock()
			return n + m, nil
		}
		err := in.err
		in.mu.Unlock()
		if err != nil {
			return 0, err
		}
		<-in.notify
	}
}

// tty is the terminal while a command line runs: it turns what is typed
// into the command's standard input like a Unix tty in canonical mode
// (echo, backspace, Enter sends the line, Ctrl-D ends the input, Ctrl-C
// interrupts the line), or hands the raw bytes to a full-screen program.
type tty struct {
	in     *inbox
	out    io.Writer // the terminal, for echo
	echo   bool      // false when the client echoes itself (line mode)
	width  int
	height int
	mu     sync.Mutex
	raw    chan []byte // non-nil while a program reads raw bytes
	silent atomic.Bool // no echo while a password is typed
	// partial is what was typed since the last line went to the command:
	// a full-screen program started then gets these keys.
	partial []byte
}

// session runs while one command line runs: it returns the command's
// standard input and a function that ends the session.
func (t *tty) session(cancel context.CancelFunc) (*os.File, func()) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, func() {}
	}
	lines := make(chan []byte, 256)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // writes to the pipe, so that a full pipe never blocks Ctrl-C
		defer pw.Close()
		for b := range lines {
			if b == nil {
				return // Ctrl-D
			}
			if _, err := pw.Write(b); err != nil {
				for range lines {
				}
				return
			}
		}
	}()
	// Keys typed ahead, before this command started, are echoed before
	// it runs, as a Unix tty echoes them when they arrive; otherwise the
	// echo would race with the command's first output.
	primed := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		var line []byte
		eof := false
		lastCR := false
		send := func(b []byte) {
			if eof {
				return
			}
			select {
			case lines <- b:
			default: // the command does not read: drop
			}
		}
		feed := func(b []byte) {
			for i := 0; i < len(b); i++ {
				c := b[i]
				t.mu.Lock()
				if len(t.partial) < maxLine {
					t.partial = append(t.partial, c)
				}
				t.mu.Unlock()
				if lastCR && (c == '\n' || c == 0) {
					lastCR = false
					continue
				}
				lastCR = c == '\r'
				switch c {
				case 3: // Ctrl-C
					t.write("^C\r\n")
					line = line[:0]
					t.clearPartial()
					cancel()
				case 4: // Ctrl-D
					if len(line) == 0 {
						send(nil)
						eof = true
					} else {
						send(append([]byte(nil), line...))
						line = line[:0]
					}
					t.clearPartial()
				case '\r', '\n':
					t.write("\r\n")
					send(append(append([]byte(nil), line...), '\n'))
					line = line[:0]
					t.clearPartial()
				case 8, 127:
					if len(line) > 0 {
						_, size := utf8.DecodeLastRune(line)
						line = line[:len(line)-size]
						t.write("\b \b")
					}
				case 0x1b: // an escape sequence (arrows): skipped
					i++
					if i < len(b) && (b[i] == '[' || b[i] == 'O') {
						for i+1 < len(b) && (b[i+1] < 0x40 || b[i+1] > 0x7e) {
							i++
						}
						i++
					}
				default:
					if c < 32 && c != '\t' {
						continue
					}
					if len(line) < maxLine {
						line = append(line, c)
						t.write(string(c))
					}
				}
			}
		}
		feed(t.in.takeNow())
		close(primed)
		for {
			b, err := t.in.take(stop)
			if err != nil {
				if !errors.Is(err, errStopped) {
					send(nil) // the client closed its side: end of input
					<-stop
				}
				return
			}
			t.mu.Lock()
			raw := t.raw
			t.mu.Unlock()
			if raw != nil {
				select {
				case raw <- b:
				case <-stop:
					t.in.unread(b)
					return
				}
				continue
			}
			feed(b)
		}
	}()
	<-primed
	return pr, func() {
		close(stop)
		<-done
		// What the command did not read goes back to the shell, as a
		// tty keeps typed-ahead lines for the next reader.
		_ = pr.SetReadDeadline(time.Now().Add(time.Second))
		rest, _ := io.ReadAll(io.LimitReader(pr, 1<<20))
		pr.Close()
		t.mu.Lock()
		rest = append(rest, t.partial...) // a line begun but not ended
		t.partial = nil
		t.mu.Unlock()
		t.in.unread(rest)
	}
}

func (t *tty) clearPartial() {
	t.mu.Lock()
	t.partial = nil
	t.mu.Unlock()
}

func (t *tty) write(s string) {
	if t.echo && !t.silent.Load() {
		if e, ok := t.out.(interface{ Echo(string) }); ok {
			e.Echo(s)
			return
		}
		io.WriteString(t.out, s)
	}
}

// rawMode hands the bytes typed to f (a full-screen program) until it
// returns. Outside an interactive terminal it fails.
func (s *Shell) rawMode(ctx context.Context, f func(keys <-chan []byte, out io.Writer, width, height int) error) error {
	t := s.tty
	if t == nil || !t.echo {
		return errors.New("this needs an interactive terminal (ssh -t, or a Telnet client in character mode)")
	}
	ch := make(chan []byte, 1)
	t.mu.Lock()
	t.raw = ch
	// Under the lock: a window resize may be setting them.
	width, height := t.width, t.height
	if len(t.partial) > 0 {
		// Typed before the program started (edit f, then keys at once).
		ch <- t.partial
		t.partial = nil
	}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.raw = nil
		t.mu.Unlock()
	}()
	return f(ch, t.out, width, height)
}

// readerCtx makes reads of a pipe end when ctx ends (Ctrl-C on cat).
func readerCtx(ctx context.Context, r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return r
	}
	return &ctxFile{ctx: ctx, f: f}
}

type ctxFile struct {
	ctx context.Context
	f   *os.File
}

func (c *ctxFile) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(c.ctx, func() { _ = c.f.SetReadDeadline(time.Now()) })
	n, err := c.f.Read(p)
	if !stop() {
		_ = c.f.SetReadDeadline(time.Time{})
		if n == 0 && err != nil {
			err = c.ctx.Err()
		}
	}
	return n, err
}

// flushWriter sends a command's output to the terminal in few writes (one
// segment in Wireshark for a short output) yet without waiting for the end
// of the command: what is written is sent within 20 ms.
type flushWriter struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer
	err   error
	// held is the echo of keys typed while the output stands mid-line.
	// A Unix tty never splits one write() with echo; the interpreter
	// writes `echo a b` in four pieces, so the echo waits for the end of
	// the line (or the next flush) instead of landing between them.
	held []byte
	// open: the output not yet sent ends mid-line.
	open bool
}

// Echo adds the terminal's echo of typed keys to the output.
func (f *flushWriter) Echo(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return
	}
	if f.open {
		f.held = append(f.held, s...)
	} else {
		f.buf = append(f.buf, s...)
	}
	// A paste of a megabyte (or held Ctrl-C) is echoed in 16 KiB writes
	// like any output, not gathered whole until the timer; held echo then
	// goes out mid-line, as a Unix tty would have echoed it at once.
	if len(f.buf)+len(f.held) >= flushAt {
		f.flushLocked()
	} else {
		f.armLocked()
	}
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	f.buf = append(f.buf, p...)
	if len(p) > 0 {
		f.open = p[len(p)-1] != '\n'
	}
	if !f.open && len(f.held) > 0 {
		f.buf = append(f.buf, f.held...)
		f.held = f.held[:0]
	}
	if len(f.buf) >= flushAt {
		f.flushLocked()
	} else {
		f.armLocked()
	}
	return len(p), f.err
}

// flushAt is how much output (echo included) a flushWriter gathers at
// most before it writes.
const flushAt = 16 << 10

func (f *flushWriter) armLocked() {
	if f.timer == nil {
		f.timer = time.AfterFunc(20*time.Millisecond, func() { f.Flush() })
	}
}

// Flush sends what is buffered.
func (f *flushWriter) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked()
	return f.err
}

func (f *flushWriter) flushLocked() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.buf = append(f.buf, f.held...)
	f.held = f.held[:0]
	f.open = false
	if len(f.buf) == 0 || f.err != nil {
		f.buf = f.buf[:0]
		return
	}
	_, f.err = f.w.Write(f.buf)
	f.buf = f.buf[:0]
}

// maxCols and maxRows bound the window size a client announces (SSH
// sends 32-bit numbers, Telnet NAWS 16-bit ones): the editor and the pager
// draw every row and pad the width, and 4 billion rows would make one
// redraw 20 GB. No real screen comes near.
const (
	maxCols = 4096
	maxRows = 1000
)

// clampSize keeps a window size within maxCols x maxRows.
func clampSize(width, height int) (int, int) {
	return min(width, maxCols), min(height, maxRows)
}

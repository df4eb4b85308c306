package shell

// ps, kill, type/which, and the pager (less, more).

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"labd/internal/sessions"
)

// mySessions are the live labd sessions of the user, any protocol.
func (s *Shell) mySessions() []sessions.Info {
	if s.env.Deps.Sessions == nil {
		return nil
	}
	var out []sessions.Info
	for _, in := range s.env.Deps.Sessions.Live() {
		if in.User == s.env.User {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func cmdPs(s *Shell, c *call) int {
	_, _, ok := c.getopt("efauxw")
	if !ok {
		return 2
	}
	fmt.Fprintf(c.out, "%6s %-7s %-21s %-21s %8s %s\n", "ID", "PROTO", "FROM", "TO", "TIME", "WHAT")
	for _, in := range s.mySessions() {
		what := in.Attrs["command"]
		if what == "" {
			what = in.Proto + " session"
		}
		if s.env.Session != nil && in.ID == s.env.Session.ID() {
			what += " (this shell)"
		}
		d := time.Since(in.Start).Truncate(time.Second)
		fmt.Fprintf(c.out, "%6d %-7s %-21s %-21s %8s %s\n", in.ID, in.Proto, in.Remote, in.Local, d, what)
	}
	return 0
}

func cmdKill(s *Shell, c *call) int {
	args := c.args
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		args = args[1:] // -9, -TERM: every kill here closes the connection
	}
	if len(args) == 0 {
		c.usageError("kill ID (the IDs are in ps)")
		return 2
	}
	status := 0
	for _, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			status = c.failf("%s: not a session ID (see ps)", a)
			continue
		}
		var sess *sessions.Session
		if s.env.Deps.Sessions != nil {
			if x, ok := s.env.Deps.Sessions.Get(id); ok && x.Info().User == s.env.User && x.Info().Open {
				sess = x
			}
		}
		if sess == nil {
			status = c.failf("(%s): no such session of yours (see ps)", a)
			continue
		}
		if !sess.Kill() {
			status = c.failf("(%s): this session cannot be ended from here", a)
		}
	}
	return status
}

// cmdType answers type, which and command -v from labd's own lists,
// never from the host's PATH.
func cmdType(s *Shell, c *call) int {
	status := 0
	for _, a := range c.args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		switch {
		case c.name == "type" && syntax.IsKeyword(a):
			fmt.Fprintln(c.out, s.tf("%s is a shell keyword", a))
		case interp.IsBuiltin(a) && !overrides[a]:
			if c.name == "type" {
				fmt.Fprintln(c.out, s.tf("%s is a shell builtin", a))
			} else {
				fmt.Fprintln(c.out, a)
			}
		case commands[a].run != nil:
			if c.name == "type" {
				fmt.Fprintln(c.out, s.tf("%s is /bin/%s (built into labd)", a, a))
			} else {
				fmt.Fprintf(c.out, "/bin/%s\n", a)
			}
		default:
			if c.name == "type" {
				fmt.Fprintf(c.err, "type: %s: %s\n", a, s.t("not found"))
			}
			status = 1
		}
	}
	return status
}

// cmdPager shows a text a screen at a time on a terminal (space: next
// page, Enter: next line, b: back, q: quit); elsewhere it copies.
func cmdPager(s *Shell, c *call) int {
	_, args, ok := c.getopt("RSN")
	if !ok {
		return 2
	}
	var text []string
	st := c.inputs(args, func(in input) error {
		b, err := readAll(in.r)
		if err != nil {
			return err
		}
		text = append(text, lines(b)...)
		return nil
	})
	if st != 0 && len(text) == 0 {
		return st
	}
	if s.tty == nil || !s.tty.echo {
		for _, l := range text {
			fmt.Fprintln(c.out, l)
		}
		return st
	}
	if f, ok := c.out.(interface{ Flush() error }); ok {
		f.Flush()
	}
	err := s.rawMode(c.ctx, func(keys <-chan []byte, out io.Writer, width, height int) error {
		page := max(height-1, 1)
		top := 0
		show := func() {
			var b strings.Builder
			b.WriteString("\x1b[H\x1b[2J")
			for i := top; i < min(top+page, len(text)); i++ {
				l := text[i]
				if len(l) > width && width > 0 {
					l = l[:width]
				}
				b.WriteString(l + "\r\n")
			}
			pct := 100
			if len(text) > 0 {
				pct = min(top+page, len(text)) * 100 / len(text)
			}
			fmt.Fprintf(&b, "\x1b[7m%s\x1b[0m", s.tf("--More-- (%d%%) space: page, Enter: line, b: back, q: quit", pct))
			io.WriteString(out, b.String())
			if f, ok := out.(interface{ Flush() error }); ok {
				f.Flush()
			}
		}
		if len(text) <= page {
			for _, l := range text {
				io.WriteString(out, l+"\r\n")
			}
			return nil
		}
		show()
		for {
			var k []byte
			select {
			case k = <-keys:
			case <-c.ctx.Done():
				return nil
			}
			for _, b := range k {
				switch b {
				case 'q', 'Q', 3:
					io.WriteString(out, "\r\x1b[K")
					return nil
				case ' ', 'f':
					top += page
				case '\r', '\n', 'j':
					top++
				case 'b', 'k':
					top -= page
				case 'G':
					top = len(text) - page
				case 'g':
					top = 0
				}
			}
			top = max(min(top, len(text)-page), 0)
			if top+page >= len(text) && strings.ContainsAny(string(k), " f\r\nj") && c.name == "more" {
				io.WriteString(out, "\r\x1b[K")
				return nil
			}
			show()
		}
	})
	if err != nil {
		return c.failf("%v", err)
	}
	return st
}

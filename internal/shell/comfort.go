package shell

// Comfort at the prompt: Tab completion, !! and man pages.

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"unicode/utf8"
)

// shellBuiltins are the interpreter's own commands, for help, man and Tab.
var shellBuiltins = map[string]string{
	"cd":       "change directory (cd alone: home; cd -: the previous one)",
	"pwd":      "print the working directory",
	"echo":     "print its arguments (-n: no newline, -e: escapes)",
	"export":   "make a variable part of the environment (export A=1)",
	"unset":    "remove a variable or function",
	"read":     "read a line of standard input into variables",
	"test":     "check files and compare values; also written [ ... ]",
	"set":      "shell options (set -x traces each command)",
	"source":   "run the commands of a file of your home (also: .)",
	"eval":     "run its arguments as a command line",
	"exit":     "leave the shell (exit N: with status N)",
	"alias":    "define a short name for a command line",
	"shift":    "shift the positional parameters",
	"return":   "leave a function",
	"local":    "a variable of the function only",
	"declare":  "declare variables and their attributes",
	"trap":     "run a command on EXIT",
	"wait":     "wait for the commands started with &",
	"getopts":  "parse options in a function",
	"break":    "leave a loop",
	"continue": "next turn of a loop",
}

// complete is the line editor's Tab: command names for the first word,
// file names of the home after.
func (s *Shell) complete(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' {
		return "", 0, false
	}
	before, after := line[:pos], line[pos:]
	start := strings.LastIndexAny(before, " \t;|&<>(") + 1
	word := before[start:]
	prev := strings.TrimRight(before[:start], " \t")
	first := prev == "" || strings.HasSuffix(prev, ";") || strings.HasSuffix(prev, "|") || strings.HasSuffix(prev, "&") || strings.HasSuffix(prev, "(")
	var cands []string
	if first && !strings.Contains(word, "/") {
		for n := range commands {
			if strings.HasPrefix(n, word) {
				cands = append(cands, n+" ")
			}
		}
		for n := range shellBuiltins {
			if _, dup := commands[n]; !dup && strings.HasPrefix(n, word) {
				cands = append(cands, n+" ")
			}
		}
	} else {
		dir, base := path.Split(word)
		rel, err := s.resolveFrom(s.runner.Dir, dir+".")
		if err != nil {
			return "", 0, false
		}
		entries, err := fs.ReadDir(s.root.FS(), rel)
		if err != nil {
			return "", 0, false
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasPrefix(n, base) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".")) {
				continue
			}
			if e.IsDir() {
				cands = append(cands, dir+n+"/")
			} else {
				cands = append(cands, dir+n+" ")
			}
		}
	}
	sort.Strings(cands)
	switch len(cands) {
	case 0:
		return "", 0, false
	case 1:
		nl := before[:start] + cands[0] + after
		return nl, start + len(cands[0]), true
	}
	common := cands[0]
	for _, c := range cands[1:] {
		for !strings.HasPrefix(c, common) {
			common = common[:len(common)-1]
		}
	}
	common = strings.TrimSuffix(common, " ")
	if len(common) > len(word) {
		return before[:start] + common + after, start + len(common), true
	}
	// Nothing more to add: show the choices, as bash does on a second Tab.
	if s.tty != nil && s.termW != nil {
		var b strings.Builder
		for i, c := range cands {
			c = strings.TrimSuffix(c, " ")
			if dir := path.Dir(strings.TrimSuffix(c, "/")); dir != "." && !first {
				c = strings.TrimPrefix(c, dir+"/")
			}
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
		}
		fmt.Fprintf(s.termW, "%s\n", b.String())
	}
	return "", 0, false
}

// expandBang replaces !! with the previous command line, as bash does.
func (s *Shell) expandBang(line string) (string, bool, error) {
	if !strings.Contains(line, "!!") {
		return line, false, nil
	}
	n := s.hist.Len()
	// The line itself is already the latest entry.
	if n < 2 {
		return "", false, errorf("!!: event not found")
	}
	prev := s.hist.At(1)
	out := strings.ReplaceAll(line, "!!", prev)
	s.hist.lines[n-1] = out
	return out, true, nil
}

func cmdMan(s *Shell, c *call) int {
	if len(c.args) != 1 {
		c.usageError("man COMMAND (help lists them)")
		return 1
	}
	name := c.args[0]
	var b strings.Builder
	if cmd, ok := commands[name]; ok && cmd.run != nil {
		up := strings.ToUpper(name)
		fmt.Fprintf(&b, "%s(1)%s%s(1)\n\n", up, center(s.t("labd lab shell"), 54), up)
		fmt.Fprintf(&b, "%s\n       %s - %s\n\n%s\n       %s\n\n", s.t("NAME"), name, s.t(cmd.help), s.t("SYNOPSIS"), cmd.usage)
		fmt.Fprintf(&b, "%s\n%s\n\n", s.t("DESCRIPTION"), indent(s.tf("%s is built into labd: it runs inside the daemon, on the files\n"+
			"of your home only, and never starts a program of the host.\n"+
			"An option it does not know is refused with what would work.", name)))
		if ex, ok := manExamples[name]; ok {
			b.WriteString(s.t("EXAMPLES") + "\n")
			for _, e := range ex {
				if strings.Contains(e, "(") {
					e = s.t(e) // the comment after the command
				}
				fmt.Fprintf(&b, "       %s\n", e)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n       help, %s --help\n", s.t("SEE ALSO"), name)
	} else if h, ok := shellBuiltins[name]; ok {
		fmt.Fprintf(&b, "%s: %s\n\n    %s - %s\n\n%s\n", name, s.t("a shell builtin"), name, s.t(h),
			s.t("The lab shell's syntax is POSIX sh (with bash's [[ ]] and arrays): see\nhelp, and docs/shell.md of labd."))
	} else {
		return c.failf("no manual entry for %s (help lists the commands)", name)
	}
	io.WriteString(c.out, b.String())
	return 0
}

var manExamples = map[string][]string{
	"grep":    {"grep -in error log.txt", "grep -rl TODO public_html", "ls | grep -c html"},
	"nc":      {"nc localhost 25          (then type EHLO me, MAIL FROM:<...>, ...)", "nc -C localhost 110      (CR LF line ends)", "nc -z localhost 21       (is the port open?)"},
	"curl":    {"curl -v http://localhost/echo", "curl -k https://localhost/", "curl -d 'a=1' http://localhost/echo"},
	"openssl": {"openssl s_client -connect localhost:465", "openssl s_client -connect localhost:25 -starttls smtp -crlf"},
	"sed":     {"sed 's/http:/https:/g' index.html", "sed -n '1,5p' file", "sed -i '/^#/d' notes.txt"},
	"tar":     {"tar czf site.tgz public_html", "tar tzf site.tgz", "tar xzf site.tgz -C restore"},
	"od":      {"od -c mail.txt             (\\r \\n show the line ends)"},
	"nano":    {"nano public_html/index.html   (^O Enter saves, ^X quits)"},
	"find":    {"find . -name '*.html'", "find public_html -type d"},
	"sort":    {"sort -n sizes.txt", "sort -t: -k3 -n file", "sort names | uniq -c | sort -rn"},
}

// center pads text with spaces to width, text in the middle (a man page's
// header).
func center(text string, width int) string {
	n := utf8.RuneCountInString(text)
	if n >= width {
		return " " + text + " "
	}
	left := (width - n) / 2
	return strings.Repeat(" ", left) + text + strings.Repeat(" ", width-n-left)
}

// indent indents each line of a paragraph as a man page's body.
func indent(text string) string {
	return "       " + strings.ReplaceAll(text, "\n", "\n       ")
}

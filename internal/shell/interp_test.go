package shell

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSyntax drives the POSIX syntax the interpreter gives the lab shell.
func TestSyntax(t *testing.T) {
	sh, deps := newShell(t)
	home := deps.Layout.Home("alice")
	if err := os.WriteFile(filepath.Join(home, "f.txt"), []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runSteps(t, sh, []step{
		{line: "cat f.txt | cat | cat", out: "one\ntwo\nthree\n"},
		{line: "echo a > g; cat < g", out: "a\n"},
		{line: "echo b >> g && cat g", out: "a\nb\n"},
		{line: "false || echo fallback", out: "fallback\n"},
		{line: "true && echo yes; false && echo no", status: 1, noOut: "no"},
		{line: "cat nothere 2>&1 | cat", out: "No such file"},
		{line: "cat nothere 2> err.txt; cat err.txt", out: "No such file"},
		{line: "cat <<EOF\nline $USER\nEOF", out: "line alice\n"},
		{line: "cat <<'EOF'\nno $USER\nEOF", out: "no $USER\n"},
		{line: `echo "$HOME" '$HOME' \$HOME`, out: "/home/alice $HOME $HOME\n"},
		{line: "echo $USER $PWD", out: "alice /home/alice\n"},
		{line: "false; echo $?", out: "1\n"},
		{line: "frob; echo $?", out: "127\n"},
		{line: "export GREETING=hi", status: 0},
		{line: "echo $GREETING", out: "hi\n"},
		{line: "x=$(cat f.txt | cat); echo \"$x\"", out: "one\ntwo\nthree\n"},
		{line: "echo `whoami`", out: "alice\n"},
		{line: "touch a1.txt a2.txt; echo a*.txt", out: "a1.txt a2.txt\n"},
		{line: "echo *.nomatch", out: "*.nomatch\n"},
		{line: "for i in 1 2 3; do echo n$i; done", out: "n1\nn2\nn3\n"},
		{line: "i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", out: "3\n"},
		{line: "if test -f f.txt; then echo file; else echo none; fi", out: "file\n"},
		{line: "if [ -d public_html ]; then echo dir; fi", out: "dir\n"},
		{line: "[ -e /etc/passwd ] || echo absent", out: "absent\n"},
		{line: "case abc in a*) echo starts-a;; *) echo other;; esac", out: "starts-a\n"},
		{line: "greet() { echo hello $1; }; greet bob", out: "hello bob\n"},
		{line: "greet world", out: "hello world\n"},
		{line: "mkdir -p d/e; cd d/e; pwd", out: "/home/alice/d/e\n"},
		{line: "pwd", out: "/home/alice/d/e\n"},
		{line: "cd; pwd", out: "/home/alice\n"},
		{line: "(cd d; pwd); pwd", out: "/home/alice/d\n/home/alice\n"},
		{line: "exit 3", status: 3},
		{line: "/bin/ls", status: 126, errOut: "runs no program files"},
		{line: "command -v ls; type cd", out: "ls"},
		{line: "cat <(echo x)", status: 2, errOut: "process substitution"},
		{line: "echo {1..1000000}", status: 2, errOut: "brace expansion"},
		{line: "echo {a,b}{1..3}", out: "a1 a2 a3 b1 b2 b3\n"},
	})
	sh.exiting = false
}

// TestLimits: loops, recursion and growth stop with a message; the shell
// keeps working after.
func TestLimits(t *testing.T) {
	sh, _ := newShell(t)
	sh.maxSteps = 50_000 // the default takes seconds; the mechanism is the same
	for _, line := range []string{
		"while true; do :; done",
		"for ((;;)); do i=1; done",
		"f() { f; }; f",
		"f() { f | f; }; f",
		"a=x; while :; do a=$a$a; done",
		"a=xxxxxxxxxxxxxxxx; " + strings.Repeat("a=$a$a; ", 30),
	} {
		start := time.Now()
		_, e, st := run(t, sh, line)
		if st == 0 || !strings.Contains(e, "stopped") {
			t.Errorf("%q: status %d, stderr %q: want a limit", line, st, e)
		}
		t.Logf("%q stopped after %v: %s", line, time.Since(start), strings.TrimSpace(e))
		if o, _, st := run(t, sh, "echo alive"); st != 0 || o != "alive\n" {
			t.Fatalf("after %q the shell is broken: %q %d", line, o, st)
		}
	}
}

func TestInteractiveCtrlC(t *testing.T) {
	sh, _ := newShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	prompt := "alice@labd:~$ "
	p.waitFor(t, prompt, 1)
	p.typeIn(t, "while true; do :; done\r")
	p.typeIn(t, "\x03")
	p.waitFor(t, prompt, 2)
	// cat reads the terminal until Ctrl-D.
	p.typeIn(t, "cat > typed.txt\r")
	p.typeIn(t, "hello there\r")
	p.typeIn(t, "\x04")
	p.waitFor(t, prompt, 3)
	p.typeIn(t, "cat typed.txt\r")
	p.waitFor(t, "hello there\r\n", 2) // echo while typing, then the output
	p.typeIn(t, "exit\r")
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Interactive: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit did not end the shell")
	}
}

func TestEditor(t *testing.T) {
	sh, deps := newShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	prompt := "alice@labd:~$ "
	p.waitFor(t, prompt, 1)
	p.typeIn(t, "nano public_html/new.html\r")
	p.waitFor(t, "File: public_html/new.html", 1)
	p.typeIn(t, "<h1>Hi</h1>\rsecond lime")
	p.typeIn(t, "\x1b[D\x7fn")            // left, backspace, n: "lime" -> "line"
	p.typeIn(t, "\x1b[A\x01X\x1b[B\x05!") // up, ^A, X; down, ^E, !
	p.typeIn(t, "\x17second\r")           // ^W search
	p.typeIn(t, "\x0f")                   // ^O
	p.waitFor(t, "File Name to Write: public_html/new.html", 1)
	p.typeIn(t, "\r")
	p.waitFor(t, "Wrote 2 lines", 1)
	p.typeIn(t, "\x18") // ^X
	p.waitFor(t, prompt, 2)
	b, err := os.ReadFile(filepath.Join(deps.Layout.Home("alice"), "public_html", "new.html"))
	if err != nil || string(b) != "X<h1>Hi</h1>\nsecond line!\n" {
		t.Errorf("the file: %q, %v", b, err)
	}
	// ^X on a modified buffer asks; N leaves without saving.
	p.typeIn(t, "edit x.txt\r")
	p.waitFor(t, "New File", 1)
	p.typeIn(t, "abc\x18")
	p.waitFor(t, "Save modified buffer?", 1)
	p.typeIn(t, "n\r")
	p.waitFor(t, prompt, 3)
	if _, err := os.Stat(filepath.Join(deps.Layout.Home("alice"), "x.txt")); err == nil {
		t.Error("N saved the file")
	}
	p.typeIn(t, "exit\r")
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

func TestComfort(t *testing.T) {
	sh, deps := newShell(t)
	if err := os.WriteFile(filepath.Join(deps.Layout.Home("alice"), "notes.txt"), []byte("n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ line, want string }{
		{"gre", "grep "},
		{"cat no", "cat notes.txt "},
		{"ls pub", "ls public_html/"},
		{"echo x | wc -", ""},
		{"ls | hea", "ls | head "},
	} {
		got, _, ok := sh.complete(tc.line, len(tc.line), '\t')
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("Tab after %q = %q, want %q", tc.line, got, tc.want)
		}
	}
	runSteps(t, sh, []step{
		{line: "man grep", out: "SYNOPSIS\n       grep [-ivncrElLoqwF] PATTERN [FILE...]"},
		{line: "man export", out: "a shell builtin"},
		{line: "man nosuch", status: 1, errOut: "no manual entry"},
		{line: "help", out: "Shell builtins:"},
	})
	p, errc := newPipeTerm(t, sh, nil)
	prompt := "alice@labd:~$ "
	p.waitFor(t, prompt, 1)
	p.typeIn(t, "echo again\r")
	p.waitFor(t, prompt, 2)
	p.typeIn(t, "!!\r")
	p.waitFor(t, "echo again\r\nagain\r\n", 1) // the line shown, then run
	p.typeIn(t, "wh\t")
	p.waitFor(t, "which  who  whoami", 1)
	p.typeIn(t, "oa\t\r")
	p.waitFor(t, "alice\r\n", 1)
	p.typeIn(t, "exit\r")
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

func TestContinuationLines(t *testing.T) {
	sh, _ := newShell(t)
	p, errc := newPipeTerm(t, sh, nil)
	prompt := "alice@labd:~$ "
	p.waitFor(t, prompt, 1)
	p.typeIn(t, "for i in 1 2; do\r")
	p.waitFor(t, "> ", 1)
	p.typeIn(t, "echo n$i\r")
	p.waitFor(t, "> ", 2)
	p.typeIn(t, "done\r")
	p.waitFor(t, "n1\r\nn2\r\n", 1)
	p.typeIn(t, "cat <<EOF\r")
	p.typeIn(t, "here $USER\r")
	p.typeIn(t, "EOF\r")
	p.waitFor(t, "here alice\r\n", 1)
	p.typeIn(t, "exit\r")
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

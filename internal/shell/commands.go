package shell

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

type command struct {
	usage string
	help  string
	run   func(s *Shell, c *call) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"help":     {"help", "list the commands", cmdHelp},
		"ls":       {"ls [-l] [-a] [path...]", "list a directory", cmdLs},
		"cd":       {"cd [dir]", "change directory (~ is your home)", cmdCd},
		"pwd":      {"pwd", "print the working directory", cmdPwd},
		"cat":      {"cat file...", "print files", cmdCat},
		"echo":     {"echo text [>|>> file]", "print text, or write it to a file", cmdEcho},
		"mkdir":    {"mkdir [-p] dir...", "make directories", cmdMkdir},
		"rmdir":    {"rmdir dir...", "remove empty directories", cmdRmdir},
		"rm":       {"rm [-r] [-f] path...", "remove files (-r: directories too)", cmdRm},
		"mv":       {"mv src... dst", "move or rename", cmdMv},
		"cp":       {"cp [-r] src... dst", "copy files", cmdCp},
		"touch":    {"touch file...", "create a file or update its time", cmdTouch},
		"whoami":   {"whoami", "print your user name", cmdWhoami},
		"id":       {"id", "print your user and group ids", cmdID},
		"who":      {"who", "users logged in over SSH and Telnet", cmdWho},
		"hostname": {"hostname [-f]", "print the host's name", cmdHostname},
		"date":     {"date [-u]", "print the date and time", cmdDate},
		"uptime":   {"uptime", "labd's uptime, users, load", cmdUptime},
		"clear":    {"clear", "clear the screen", cmdClear},
		"history":  {"history", "the commands typed in this session", cmdHistory},
		"exit":     {"exit", "log out", cmdExit},
		"logout":   {"logout", "log out", cmdExit},
		"mail":     {"mail [N | send USER SUBJECT]", "list INBOX, read N, send a mail", cmdMail},
		"ss":       {"ss [-tulan]", "labd's sockets and connections", cmdSS},
		"netstat":  {"netstat [-tulan]", "the same, netstat style", cmdNetstat},
		"host":     {"host [-t TYPE] name", "ask labd's DNS server", cmdHost},
		"dig":      {"dig name [TYPE] [+short] [+tcp]", "ask labd's DNS server, dig style", cmdDig},

		"grep":      {"grep [-ivncrElLoqwF] PATTERN [FILE...]", "print lines that match", cmdGrep},
		"wc":        {"wc [-lwcm] [FILE...]", "count lines, words, bytes", cmdWc},
		"head":      {"head [-n N] [-c N] [FILE...]", "the first lines", cmdHead},
		"tail":      {"tail [-n N|+N] [-c N] [FILE...]", "the last lines", cmdTail},
		"sort":      {"sort [-nrufk N -t SEP] [FILE...]", "sort lines", cmdSort},
		"uniq":      {"uniq [-cdui] [FILE]", "drop repeated lines", cmdUniq},
		"cut":       {"cut -f LIST [-d SEP] | -c LIST [FILE...]", "keep fields or characters", cmdCut},
		"tr":        {"tr [-ds] SET1 [SET2]", "translate or delete characters", cmdTr},
		"tee":       {"tee [-a] FILE...", "copy standard input to files", cmdTee},
		"sed":       {"sed [-nEi] 's/RE/NEW/g; /RE/d; 2p' [FILE...]", "edit lines as they pass", cmdSed},
		"diff":      {"diff [-u] [-q] OLD NEW", "compare two files", cmdDiff},
		"seq":       {"seq [-s SEP] [-w] [FIRST [STEP]] LAST", "print numbers", cmdSeq},
		"printf":    {"printf FORMAT [ARG...]", "formatted output (%s %d %x %b)", cmdPrintf},
		"sleep":     {"sleep N[smhd]", "wait", cmdSleep},
		"env":       {"env", "the exported variables", cmdEnv},
		"printenv":  {"printenv", "the exported variables", cmdEnv},
		"uname":     {"uname [-asnrmo]", "the system's name", cmdUname},
		"basename":  {"basename PATH [SUFFIX]", "the last part of a path", cmdBasename},
		"dirname":   {"dirname PATH", "a path without its last part", cmdDirname},
		"true":      {"true", "succeed", cmdTrue},
		"false":     {"false", "fail", cmdFalse},
		"base64":    {"base64 [-d] [-w N] [FILE]", "encode or decode base64", cmdBase64},
		"md5sum":    {"md5sum [FILE...]", "MD5 checksums", cmdMd5sum},
		"sha1sum":   {"sha1sum [FILE...]", "SHA-1 checksums", cmdSha1sum},
		"sha256sum": {"sha256sum [FILE...]", "SHA-256 checksums", cmdSha256sum},
		"od":        {"od [-c] [-x] [-b] [-t x1] [-A d|x|n] [FILE]", "dump bytes (-c shows \\r \\n)", cmdOd},
		"xxd":       {"xxd [FILE]", "hex dump", cmdXxd},
		"hexdump":   {"hexdump [-C] [FILE]", "hex dump with text", cmdHexdump},
		"less":      {"less [FILE...]", "read a text a screen at a time", cmdPager},
		"more":      {"more [FILE...]", "read a text a screen at a time", cmdPager},
		"find":      {"find [DIR] [-name PAT] [-type f|d|l] [-maxdepth N]", "find files", cmdFind},
		"du":        {"du [-sha] [PATH...]", "disk use", cmdDu},
		"df":        {"df [-h]", "free space of the homes' disk", cmdDf},
		"stat":      {"stat FILE...", "a file's details", cmdStat},
		"file":      {"file FILE...", "what a file holds", cmdFile},
		"chmod":     {"chmod [-R] MODE FILE...", "change permissions (no o+w, no setuid)", cmdChmod},
		"tar":       {"tar c|x|t[zv] -f ARCHIVE [-C DIR] [PATH...]", "make, list or unpack archives", cmdTar},
		"gzip":      {"gzip [-dck] [FILE...]", "compress files", cmdGzip},
		"gunzip":    {"gunzip [-ck] FILE.gz...", "uncompress files", cmdGzip},
		"zcat":      {"zcat FILE.gz...", "print compressed files", cmdGzip},
		"ps":        {"ps", "your labd sessions, every protocol", cmdPs},
		"kill":      {"kill ID...", "end one of your sessions (IDs from ps)", cmdKill},
		"type":      {"type NAME...", "what a command is", cmdType},
		"nc":        {"nc [-uCz] HOST PORT", "connect and type a protocol by hand", cmdNc},
		"telnet":    {"telnet HOST [PORT]", "Telnet client (negotiates; Ctrl-] quits)", cmdTelnet},
		"curl":      {"curl [-vkIiLf] [-d DATA] URL", "HTTP/HTTPS client (lab CA trusted)", cmdCurl},
		"openssl":   {"openssl s_client -connect H:P", "TLS client (-starttls smtp|imap...)", cmdOpenssl},
		"man":       {"man COMMAND", "the manual page of a command", cmdMan},
		"nano":      {"nano [FILE]", "edit a file (^O save, ^X exit, ^W search)", cmdNano},
		"edit":      {"edit [FILE]", "the same as nano", cmdNano},
		"ftp":       {"ftp [-A] HOST [PORT]", "FTP client (passive; -A active)", cmdFtp},
		"ping":      {"ping HOST", "(ICMP is not available: use nc -z)", cmdPing},
		"which":     {"which NAME...", "where a command is", cmdType},
	}
}

func cmdHelp(s *Shell, c *call) int {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(c.out, s.t("Commands of the lab shell (it runs no host program and only sees your home):"))
	for _, n := range names {
		fmt.Fprintf(c.out, "  %-31s %s\n", commands[n].usage, s.t(commands[n].help))
	}
	names = names[:0]
	for n := range shellBuiltins {
		if _, dup := commands[n]; !dup {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	fmt.Fprintln(c.out, s.t("Shell syntax:"), "| ; && || > >> < 2>&1 <<EOF $VAR $(cmd) * for while if case f(){}")
	fmt.Fprintln(c.out, s.t("Shell builtins:"))
	for _, n := range names {
		fmt.Fprintf(c.out, "  %-10s %s\n", n, s.t(shellBuiltins[n]))
	}
	fmt.Fprintln(c.out, s.t("man CMD or CMD --help tell more; Tab completes names; !! repeats the last line."))
	return 0
}

// flags splits leading -abc options from the arguments; known lists the
// accepted letters.
func (c *call) flags(known string) (map[byte]bool, []string, bool) {
	set := map[byte]bool{}
	args := c.args
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		for i := 1; i < len(args[0]); i++ {
			f := args[0][i]
			if !strings.ContainsRune(known, rune(f)) {
				fmt.Fprintf(c.err, "%s: %s\n", c.name, c.sh.tf("invalid option -- '%c'\nusage: %s", f, commands[c.name].usage))
				return nil, nil, false
			}
			set[f] = true
		}
		args = args[1:]
	}
	return set, args, true
}

func cmdLs(s *Shell, c *call) int {
	fl, args, ok := c.flags("laAhn1")
	if !ok {
		return 2
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	status := 0
	for i, a := range args {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("cannot access '%s': %v", a, err)
			continue
		}
		fi, err := s.root.Stat(rel)
		if err != nil {
			status = c.failf("cannot access '%s': %s", a, errText(err))
			continue
		}
		if !fi.IsDir() {
			s.lsEntry(c, rel, a, fi, fl['l'])
			continue
		}
		if len(args) > 1 {
			if i > 0 {
				fmt.Fprintln(c.out)
			}
			fmt.Fprintf(c.out, "%s:\n", a)
		}
		entries, err := fs.ReadDir(s.root.FS(), rel)
		if err != nil {
			status = c.failf("cannot open directory '%s': %s", a, errText(err))
			continue
		}
		if fl['l'] {
			fmt.Fprintf(c.out, "total %d\n", len(entries))
		}
		if fl['a'] {
			for _, dot := range []string{".", ".."} {
				if fi, err := s.root.Stat(rel); err == nil {
					s.lsEntry(c, rel, dot, fi, fl['l'])
				}
			}
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && !fl['a'] && !fl['A'] {
				continue
			}
			p := path.Join(rel, e.Name())
			fi, err := s.root.Lstat(p)
			if err != nil {
				continue
			}
			s.lsEntry(c, p, e.Name(), fi, fl['l'])
		}
	}
	return status
}

func (s *Shell) lsEntry(c *call, rel, name string, fi fs.FileInfo, long bool) {
	if !long {
		if fi.IsDir() && name != "." && name != ".." {
			name += "/"
		}
		fmt.Fprintln(c.out, name)
		return
	}
	t := fi.ModTime()
	when := t.Format("Jan _2 15:04")
	if time.Since(t) > 180*24*time.Hour {
		when = t.Format("Jan _2  2006")
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err := s.root.Readlink(rel); err == nil {
			name += " -> " + target
		}
	}
	fmt.Fprintf(c.out, "%s 1 %-8s %-8s %8d %s %s\n", fi.Mode().String(), s.env.User, s.env.User, fi.Size(), when, name)
}

func cmdCd(s *Shell, c *call) int {
	// cd is the interpreter's (it changes its directory); this runs only
	// through "command cd" in a pipe, where it changes nothing, as in sh.
	return 0
}

func cmdPwd(s *Shell, c *call) int {
	fmt.Fprintln(c.out, c.dir)
	return 0
}

func cmdCat(s *Shell, c *call) int {
	args := c.args
	if len(args) == 0 {
		args = []string{"-"}
	}
	status := 0
	for _, a := range args {
		if a == "-" {
			if _, err := io.Copy(c.out, readerCtx(c.ctx, c.in)); err != nil {
				status = c.failf("%s", errText(err))
			}
			continue
		}
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("%s: %v", a, err)
			continue
		}
		f, err := s.root.Open(rel)
		if err != nil {
			status = c.failf("%s: %s", a, errText(err))
			continue
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			status = c.failf("%s: Is a directory", a)
			continue
		}
		if _, err := io.Copy(c.out, f); err != nil {
			status = c.failf("%s: %s", a, errText(err))
		}
		f.Close()
	}
	return status
}

func cmdEcho(s *Shell, c *call) int {
	args := c.args
	nl := true
	if len(args) > 0 && args[0] == "-n" {
		nl = false
		args = args[1:]
	}
	fmt.Fprint(c.out, strings.Join(args, " "))
	if nl {
		fmt.Fprintln(c.out)
	}
	return 0
}

func cmdMkdir(s *Shell, c *call) int {
	fl, args, ok := c.flags("p")
	if !ok {
		return 2
	}
	if len(args) == 0 {
		return c.failf("missing operand")
	}
	status := 0
	for _, a := range args {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("cannot create directory '%s': %v", a, err)
			continue
		}
		if fl['p'] {
			err = s.root.MkdirAll(rel, 0o755)
		} else {
			err = s.root.Mkdir(rel, 0o755)
		}
		if err != nil {
			status = c.failf("cannot create directory '%s': %s", a, errText(err))
		}
	}
	return status
}

func cmdRmdir(s *Shell, c *call) int {
	if len(c.args) == 0 {
		return c.failf("missing operand")
	}
	status := 0
	for _, a := range c.args {
		rel, err := c.resolve(a)
		if err == nil && rel == "." {
			err = errors.New("refusing to remove your home")
		}
		if err != nil {
			status = c.failf("failed to remove '%s': %v", a, err)
			continue
		}
		fi, err := s.root.Lstat(rel)
		if err == nil && !fi.IsDir() {
			status = c.failf("failed to remove '%s': Not a directory", a)
			continue
		}
		if err == nil {
			err = s.root.Remove(rel)
		}
		if err != nil {
			msg := errText(err)
			if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) || strings.Contains(msg, "not empty") {
				msg = "Directory not empty"
			}
			status = c.failf("failed to remove '%s': %s", a, msg)
		}
	}
	return status
}

func cmdRm(s *Shell, c *call) int {
	fl, args, ok := c.flags("rRfi")
	if !ok {
		return 2
	}
	if len(args) == 0 {
		return c.failf("missing operand")
	}
	recursive := fl['r'] || fl['R']
	status := 0
	for _, a := range args {
		rel, err := c.resolve(a)
		if err == nil && rel == "." {
			err = errors.New("refusing to remove your home")
		}
		if err != nil {
			status = c.failf("cannot remove '%s': %v", a, err)
			continue
		}
		fi, err := s.root.Lstat(rel)
		if err != nil {
			if !fl['f'] {
				status = c.failf("cannot remove '%s': %s", a, errText(err))
			}
			continue
		}
		if fi.IsDir() && !recursive {
			status = c.failf("cannot remove '%s': Is a directory", a)
			continue
		}
		if recursive {
			err = s.root.RemoveAll(rel)
		} else {
			err = s.root.Remove(rel)
		}
		if err != nil {
			status = c.failf("cannot remove '%s': %s", a, errText(err))
		}
	}
	return status
}

// target resolves the last argument of mv/cp: into a directory, or as the
// new name.
func (s *Shell) target(c *call, srcs []string, dst string) (string, bool, int) {
	drel, err := c.resolve(dst)
	if err != nil {
		return "", false, c.failf("'%s': %v", dst, err)
	}
	fi, err := s.root.Stat(drel)
	isDir := err == nil && fi.IsDir()
	if strings.HasSuffix(dst, "/") && !isDir {
		return "", false, c.failf("target '%s' is not a directory", dst)
	}
	if len(srcs) > 1 && !isDir {
		return "", false, c.failf("target '%s' is not a directory", dst)
	}
	return drel, isDir, 0
}

func cmdMv(s *Shell, c *call) int {
	if len(c.args) < 2 {
		return c.failf("missing destination file operand")
	}
	srcs, dst := c.args[:len(c.args)-1], c.args[len(c.args)-1]
	drel, isDir, st := s.target(c, srcs, dst)
	if st != 0 {
		return st
	}
	status := 0
	for _, a := range srcs {
		rel, err := c.resolve(a)
		if err == nil && rel == "." {
			err = errors.New("refusing to move your home")
		}
		if err != nil {
			status = c.failf("cannot move '%s': %v", a, err)
			continue
		}
		to := drel
		if isDir {
			to = path.Join(drel, path.Base(rel))
		}
		if err := s.root.Rename(rel, to); err != nil {
			status = c.failf("cannot move '%s' to '%s': %s", a, dst, errText(err))
		}
	}
	return status
}

func cmdCp(s *Shell, c *call) int {
	fl, args, ok := c.flags("rRpf")
	if !ok {
		return 2
	}
	if len(args) < 2 {
		return c.failf("missing destination file operand")
	}
	srcs, dst := args[:len(args)-1], args[len(args)-1]
	drel, isDir, st := s.target(c, srcs, dst)
	if st != 0 {
		return st
	}
	status := 0
	for _, a := range srcs {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("cannot stat '%s': %v", a, err)
			continue
		}
		to := drel
		if isDir {
			to = path.Join(drel, path.Base(rel))
		}
		if rel == to {
			status = c.failf("'%s' and '%s' are the same file", a, dst)
			continue
		}
		fi, err := s.root.Stat(rel)
		if err != nil {
			status = c.failf("cannot stat '%s': %s", a, errText(err))
			continue
		}
		if fi.IsDir() {
			if !fl['r'] && !fl['R'] {
				status = c.failf("-r not specified; omitting directory '%s'", a)
				continue
			}
			if to == rel || strings.HasPrefix(to, rel+"/") {
				status = c.failf("cannot copy a directory, '%s', into itself", a)
				continue
			}
			if err := s.copyTree(rel, to); err != nil {
				status = c.failf("'%s': %s", a, errText(err))
			}
			continue
		}
		if err := s.copyFile(rel, to, fi.Mode().Perm()); err != nil {
			status = c.failf("cannot copy '%s': %s", a, errText(err))
		}
	}
	return status
}

func (s *Shell) copyFile(from, to string, perm fs.FileMode) error {
	in, err := s.root.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := s.root.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (s *Shell) copyTree(from, to string) error {
	return fs.WalkDir(s.root.FS(), from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := path.Join(to, strings.TrimPrefix(strings.TrimPrefix(p, from), "/"))
		switch {
		case d.IsDir():
			return s.root.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			return s.copyFile(p, dst, 0o644)
		}
		return nil // symlinks and others are not copied
	})
}

func cmdTouch(s *Shell, c *call) int {
	if len(c.args) == 0 {
		return c.failf("missing file operand")
	}
	status := 0
	now := time.Now()
	for _, a := range c.args {
		rel, err := c.resolve(a)
		if err != nil {
			status = c.failf("cannot touch '%s': %v", a, err)
			continue
		}
		f, err := s.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE, 0o644)
		if err == nil {
			f.Close()
			err = s.root.Chtimes(rel, now, now)
		}
		if err != nil {
			status = c.failf("cannot touch '%s': %s", a, errText(err))
		}
	}
	return status
}

func cmdWhoami(s *Shell, c *call) int {
	fmt.Fprintln(c.out, s.env.User)
	return 0
}

// uid is a stable made-up number: lab users are not host accounts.
func uid(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return 2000 + int(h.Sum32()%8000)
}

func cmdID(s *Shell, c *call) int {
	u := s.env.User
	groups := "100(users)"
	if s.env.Deps.Store != nil {
		if info, err := s.env.Deps.Store.User(c.ctx, u); err == nil && info.Admin {
			groups += ",10(labadmin)"
		}
	}
	fmt.Fprintf(c.out, "uid=%d(%s) gid=100(users) groups=%s\n", uid(u), u, groups)
	return 0
}

func cmdHostname(s *Shell, c *call) int {
	fl, _, ok := c.flags("fs")
	if !ok {
		return 2
	}
	if fl['f'] && s.env.Deps.Config != nil {
		fmt.Fprintln(c.out, s.env.Deps.Config.FQDN())
		return 0
	}
	fmt.Fprintln(c.out, s.hostname())
	return 0
}

func cmdDate(s *Shell, c *call) int {
	fl, _, ok := c.flags("uR")
	if !ok {
		return 2
	}
	t := time.Now()
	if fl['u'] {
		t = t.UTC()
	}
	if fl['R'] {
		fmt.Fprintln(c.out, t.Format(time.RFC1123Z))
		return 0
	}
	fmt.Fprintln(c.out, t.Format(time.UnixDate))
	return 0
}

func cmdUptime(s *Shell, c *call) int {
	up := time.Since(started)
	var ups string
	switch d := int(up.Hours()) / 24; {
	case d > 0:
		ups = fmt.Sprintf("%d day(s), %2d:%02d", d, int(up.Hours())%24, int(up.Minutes())%60)
	case up >= time.Hour:
		ups = fmt.Sprintf("%2d:%02d", int(up.Hours()), int(up.Minutes())%60)
	default:
		ups = fmt.Sprintf("%d min", int(up.Minutes()))
	}
	load := "0.00, 0.00, 0.00"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = f[0] + ", " + f[1] + ", " + f[2]
		}
	}
	fmt.Fprintf(c.out, " %s up %s,  %d user(s),  load average: %s\n", time.Now().Format("15:04:05"), ups, len(s.loggedIn()), load)
	return 0
}

func cmdClear(s *Shell, c *call) int {
	fmt.Fprint(c.out, "\x1b[H\x1b[2J")
	return 0
}

func cmdHistory(s *Shell, c *call) int {
	for i, l := range s.hist.lines {
		fmt.Fprintf(c.out, "%5d  %s\n", i+1, l)
	}
	return 0
}

func cmdExit(s *Shell, c *call) int {
	s.exiting = true
	return 0
}

package shell

// ftp HOST [PORT]: a small interactive FTP client, passive (default) or
// active, whose control and data connections go through the shell's
// dialer (data only to the server's own address).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

type ftpClient struct {
	sh      *Shell
	c       *call
	conn    net.Conn
	r       *bufio.Reader
	in      *bufio.Reader
	passive bool
}

// reply reads one reply (multi-line too), shows it, returns its code.
func (f *ftpClient) reply() (int, string, error) {
	f.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	var all strings.Builder
	first, err := f.r.ReadString('\n')
	if err != nil {
		return 0, "", errorf("the server closed the connection")
	}
	all.WriteString(first)
	code, _ := strconv.Atoi(first[:min(3, len(first))])
	if len(first) > 3 && first[3] == '-' {
		for {
			l, err := f.r.ReadString('\n')
			if err != nil {
				return 0, "", err
			}
			all.WriteString(l)
			if len(l) > 3 && l[:3] == first[:3] && l[3] == ' ' {
				break
			}
		}
	}
	text := strings.ReplaceAll(all.String(), "\r\n", "\n")
	io.WriteString(f.c.out, text)
	flush(f.c.out)
	return code, text, nil
}

func (f *ftpClient) cmd(format string, a ...any) (int, string, error) {
	if _, err := fmt.Fprintf(f.conn, format+"\r\n", a...); err != nil {
		return 0, "", err
	}
	return f.reply()
}

// ask shows a prompt and reads a line of the input.
func (f *ftpClient) ask(prompt string, secret bool) (string, bool) {
	io.WriteString(f.c.out, prompt)
	flush(f.c.out)
	if secret && f.sh.tty != nil {
		f.sh.tty.silent.Store(true)
		defer func() {
			f.sh.tty.silent.Store(false)
			io.WriteString(f.c.out, "\n")
		}()
	}
	l, err := f.in.ReadString('\n')
	if err != nil && l == "" {
		return "", false
	}
	return strings.TrimRight(l, "\r\n"), true
}

// data opens the data connection for one transfer command; it returns
// the connection once the server accepted the command.
func (f *ftpClient) data(command string) (net.Conn, error) {
	server, _ := netip.ParseAddrPort(f.conn.RemoteAddr().String())
	if f.passive {
		code, text, err := f.cmd("PASV")
		if err != nil {
			return nil, err
		}
		if code != 227 {
			return nil, errorf("passive mode refused")
		}
		i, j := strings.IndexByte(text, '('), strings.IndexByte(text, ')')
		if i < 0 || j < i {
			return nil, errorf("cannot read the 227 reply")
		}
		var h [6]int
		for k, p := range strings.Split(text[i+1:j], ",") {
			if k < 6 {
				h[k], _ = strconv.Atoi(strings.TrimSpace(p))
			}
		}
		port := h[4]*256 + h[5]
		// Data goes to the server's own address, whatever 227 says (as
		// curl and lftp do): the lab shell reaches no other host.
		d := net.Dialer{Timeout: 10 * time.Second}
		dc, err := d.DialContext(f.c.ctx, "tcp", netip.AddrPortFrom(server.Addr(), uint16(port)).String())
		if err != nil {
			return nil, err
		}
		dc = f.sh.record(dc, "tcp", "ftp data "+command)
		code, _, err = f.cmd("%s", command)
		if err != nil || code >= 400 {
			dc.Close()
			return nil, errorf("refused")
		}
		return dc, nil
	}
	local, _ := netip.ParseAddrPort(f.conn.LocalAddr().String())
	ln, err := net.Listen("tcp", netip.AddrPortFrom(local.Addr(), 0).String())
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	lp, _ := netip.ParseAddrPort(ln.Addr().String())
	a := local.Addr().Unmap().As4()
	if code, _, err := f.cmd("PORT %d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], lp.Port()/256, lp.Port()%256); err != nil || code != 200 {
		return nil, errorf("active mode refused")
	}
	code, _, err := f.cmd("%s", command)
	if err != nil || code >= 400 {
		return nil, errorf("refused")
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(15 * time.Second))
	}
	dc, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	if p, _ := netip.ParseAddrPort(dc.RemoteAddr().String()); p.Addr().Unmap() != server.Addr().Unmap() {
		dc.Close()
		return nil, errorf("a data connection from another host was refused")
	}
	return f.sh.record(dc, "tcp", "ftp data "+command), nil
}

func (f *ftpClient) transfer(command string, w io.Writer, r io.Reader) {
	dc, err := f.data(command)
	if err != nil {
		fmt.Fprintf(f.c.err, "ftp: %v\n", err)
		return
	}
	start := time.Now()
	var n int64
	if r != nil {
		n, err = io.Copy(dc, r)
	} else {
		n, err = io.Copy(w, io.LimitReader(dc, maxRead))
	}
	dc.Close()
	if err != nil {
		fmt.Fprintf(f.c.err, "ftp: %v\n", err)
	}
	f.reply()
	if r != nil || w != f.c.out {
		fmt.Fprintf(f.c.out, "%d bytes in %.2f secs\n", n, time.Since(start).Seconds())
	}
}

func cmdFtp(s *Shell, c *call) int {
	o, args, ok := c.getopt("pAn")
	if !ok {
		return 2
	}
	if len(args) < 1 || len(args) > 2 {
		c.usageError("ftp HOST [PORT] (-A active mode)")
		return 2
	}
	port := "21"
	if len(args) == 2 {
		port = args[1]
	}
	conn, err := s.dial(c.ctx, "tcp", args[0], port, "ftp "+strings.Join(args, " "))
	if err != nil {
		return c.failf("connect: %v", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(c.ctx, func() { conn.Close() })
	defer stop()
	fmt.Fprintf(c.out, "Connected to %s.\n", args[0])
	f := &ftpClient{sh: s, c: c, conn: conn, r: bufio.NewReader(conn), in: bufio.NewReader(readerCtx(c.ctx, c.in)), passive: !o.has('A')}
	if _, _, err := f.reply(); err != nil {
		return c.failf("%v", err)
	}
	if !o.has('n') {
		user, ok := f.ask(fmt.Sprintf("Name (%s:%s): ", args[0], s.env.User), false)
		if !ok {
			return 0
		}
		if user == "" {
			user = s.env.User
		}
		code, _, err := f.cmd("USER %s", user)
		if err != nil {
			return c.failf("%v", err)
		}
		if code == 331 {
			pass, ok := f.ask("Password: ", true)
			if !ok {
				return 0
			}
			if code, _, err = f.cmd("PASS %s", pass); err != nil {
				return c.failf("%v", err)
			}
			if code != 230 {
				fmt.Fprintln(c.out, s.t("Login failed."))
			}
		}
	}
	f.cmd("TYPE I")
	for {
		line, ok := f.ask("ftp> ", false)
		if !ok || c.ctx.Err() != nil {
			f.cmd("QUIT")
			return 0
		}
		w := strings.Fields(line)
		if len(w) == 0 {
			continue
		}
		arg := func(i int) string {
			if i < len(w) {
				return w[i]
			}
			return ""
		}
		var err error
		switch w[0] {
		case "quit", "bye", "exit":
			f.cmd("QUIT")
			return 0
		case "ls", "dir":
			verb := "NLST"
			if w[0] == "dir" {
				verb = "LIST"
			}
			f.transfer(strings.TrimSpace(verb+" "+arg(1)), c.out, nil)
		case "cd":
			_, _, err = f.cmd("CWD %s", arg(1))
		case "cdup":
			_, _, err = f.cmd("CDUP")
		case "pwd":
			_, _, err = f.cmd("PWD")
		case "mkdir":
			_, _, err = f.cmd("MKD %s", arg(1))
		case "rmdir":
			_, _, err = f.cmd("RMD %s", arg(1))
		case "delete", "rm":
			_, _, err = f.cmd("DELE %s", arg(1))
		case "size":
			_, _, err = f.cmd("SIZE %s", arg(1))
		case "binary", "bin":
			_, _, err = f.cmd("TYPE I")
		case "ascii":
			_, _, err = f.cmd("TYPE A")
		case "passive":
			f.passive = !f.passive
			fmt.Fprintf(c.out, "Passive mode: %v.\n", map[bool]string{true: "on", false: "off (active: PORT)"}[f.passive])
		case "quote":
			_, _, err = f.cmd("%s", strings.Join(w[1:], " "))
		case "get":
			local := arg(2)
			if local == "" {
				local = path.Base(arg(1))
			}
			rel, rerr := c.resolve(local)
			if rerr != nil {
				fmt.Fprintf(c.err, "ftp: %s: %v\n", local, rerr)
				continue
			}
			file, ferr := s.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if ferr != nil {
				fmt.Fprintf(c.err, "ftp: %s: %s\n", local, errText(ferr))
				continue
			}
			fmt.Fprintf(c.out, "local: %s remote: %s\n", local, arg(1))
			f.transfer("RETR "+arg(1), &limitedWriter{w: file, ls: lineOf(c.ctx)}, nil)
			file.Close()
		case "put":
			remote := arg(2)
			if remote == "" {
				remote = path.Base(arg(1))
			}
			file, ferr := c.open(arg(1))
			if ferr != nil {
				fmt.Fprintf(c.err, "ftp: %s: %v\n", arg(1), ferr)
				continue
			}
			fmt.Fprintf(c.out, "local: %s remote: %s\n", arg(1), remote)
			f.transfer("STOR "+remote, nil, file)
			file.Close()
		case "help", "?":
			fmt.Fprintln(c.out, s.t("Commands:"), "ls dir cd cdup pwd get put mkdir rmdir delete size binary ascii passive quote bye")
		default:
			fmt.Fprintln(c.out, s.tf("?Invalid command: %s (help lists them)", w[0]))
		}
		if err != nil {
			return c.failf("%v", err)
		}
	}
}

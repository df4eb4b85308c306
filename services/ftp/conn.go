package ftp

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"labd/internal/sessions"
)

// ctrlListener hands ftpserverlib the group's recording, per-IP-capped
// listener, with every control connection wrapped in a ctrlConn.
type ctrlListener struct {
	net.Listener
	svc *Service
}

func (l *ctrlListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	remote := c.RemoteAddr().String()
	cl := &client{svc: l.svc, sess: sessions.FromConn(c), remote: remote, log: l.svc.log.With("remote", remote)}
	cc := &ctrlConn{Conn: c, client: cl, idle: l.svc.cfg.IdleTimeout.D(), help: true, tlsConf: l.svc.tls, requireTLS: l.svc.cfg.RequireTLS,
		stopping: &l.svc.stopping}
	cl.ctrl = cc
	l.svc.clients.Store(remote, cl)
	return cc, nil
}

// ctrlConn is the control connection as ftpserverlib sees it. It does
// what the library does not:
//
//   - The library's idle timeout is a read deadline on the control
//     connection, which also fires during a long transfer (the control
//     connection is silent meanwhile). ctrlConn extends the deadline as
//     long as a data transfer moved bytes within the idle period.
//   - It answers some command lines itself (HELP, STRU, EPSV ALL and the
//     data commands it forbids, OPTS MLST, a malformed SITE CHMOD; see
//     answer), in order: it only answers a line once the library has
//     consumed every line before it, since it hands the library one line
//     per Read.
//   - AUTH TLS (RFC 4217): the library would wrap this conn in TLS itself
//     and leave it only ciphertext to see, so every fix here would stop at
//     AUTH TLS. ctrlConn answers AUTH itself and puts TLS under itself;
//     the library never knows the control connection is encrypted, so
//     ftp.require_tls is enforced here too (USER/PASS before AUTH TLS,
//     data connections without PROT P).
//   - An ABOR sent as urgent data (ftplib's abort(): on Linux the urgent
//     byte, the final LF, is not in the stream) arrives as "ABOR\r"
//     directly followed by the next command; it is cut there.
//   - The library's stock reply texts become RFC 959's (see replyTexts).
type ctrlConn struct {
	net.Conn // the plaintext connection (under TLS after AUTH TLS)
	client   *client
	idle     time.Duration

	tlsConf    *tls.Config // nil: TLS not configured
	requireTLS bool        // ftp.require_tls
	lmu        sync.Mutex
	tls        *tls.Conn // set by AUTH TLS: reads and writes go through it
	// fakeEPSV: the library got an EPSV in place of PORT/EPRT (active.go);
	// substitute is the line it gets in place of the one read.
	fakeEPSV   atomic.Bool
	substitute []byte

	mu       sync.Mutex // serialises writes (library replies and ours)
	pending  []byte     // read from the socket, not yet examined
	ready    []byte     // examined, for the library
	help     bool       // line examination on
	epsvAll  bool       // EPSV ALL was accepted (RFC 2428 4)
	aborLF   bool       // an ABOR was cut at its CR: drop a late LF
	readDead time.Time
	buf      [4096]byte

	// stopping is the service's (stop.go); nil: never. transferOpen: a
	// transfer command was handed to the library and has not had its
	// final reply. waiting: Read is blocked at the start of a line,
	// until it returns or the stop claims the wait (stopIfWaiting).
	stopping     *atomic.Bool
	transferOpen atomic.Bool
	waiting      atomic.Bool
}

// NetConn lets sessions.FromConn find the recording conn.
func (c *ctrlConn) NetConn() net.Conn { return c.Conn }

// lower is the connection commands are read from and replies written
// to: the TLS conn after AUTH TLS.
func (c *ctrlConn) lower() net.Conn {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	if c.tls != nil {
		return c.tls
	}
	return c.Conn
}

func (c *ctrlConn) encrypted() bool {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	return c.tls != nil
}

// startTLS puts TLS under the control connection once 234 was sent; the
// handshake runs at the next read. Plaintext the client sent after AUTH
// TLS is dropped (command injection, as in CVE-2011-0411).
func (c *ctrlConn) startTLS() {
	c.pending, c.aborLF = nil, false
	c.lmu.Lock()
	c.tls = tls.Server(c.Conn, c.tlsConf)
	c.lmu.Unlock()
	c.client.note("control connection upgraded to TLS (AUTH TLS)")
}

func (c *ctrlConn) Close() error { return c.lower().Close() }

func (c *ctrlConn) SetDeadline(t time.Time) error {
	c.readDead = t
	return c.lower().SetReadDeadline(t)
}

func (c *ctrlConn) SetReadDeadline(t time.Time) error {
	c.readDead = t
	return c.lower().SetReadDeadline(t)
}

func (c *ctrlConn) Write(p []byte) (int, error) {
	n, err := c.write(p)
	if err == nil && c.stopping != nil {
		c.transferReplied(p)
	}
	return n, err
}

func (c *ctrlConn) write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lower := c.lower()
	if c.idle > 0 {
		_ = lower.SetWriteDeadline(time.Now().Add(max(c.idle, time.Minute)))
	}
	if port := pasvPort(p); port > 0 {
		c.client.pasvPort.Store(int32(port))
	}
	if q, ok := c.statLine(p); ok {
		if _, err := lower.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if q, ok := c.activeReply(p); ok {
		if _, err := lower.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	// STAT names the listener's address (0.0.0.0:21 on a wildcard
	// listener): the address this client reached is more telling.
	if rest, ok := bytes.CutPrefix(p, []byte("Connected to ")); ok {
		if _, after, ok := bytes.Cut(rest, []byte(" from ")); ok {
			line := append([]byte("Connected to "+c.Conn.LocalAddr().String()+" from "), after...)
			if _, err := lower.Write(line); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	// The library writes and flushes one reply line at a time.
	if r, ok := replyTexts[string(p)]; ok {
		if _, err := lower.Write([]byte(r)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return lower.Write(p)
}

// replyTexts replaces ftpserverlib's stock reply lines by plain RFC 959
// (and RFC 2389/3659) English.
var replyTexts = map[string]string{
	"331 OK\r\n":                      "331 User name okay, send PASS with the password\r\n",
	"200 OK\r\n":                      "200 Command okay.\r\n",
	"200 Done !\r\n":                  "200 Command okay.\r\n",
	"250 Done !\r\n":                  "250 Requested file action okay, completed.\r\n",
	"350 Sure, give me a target\r\n":  "350 Requested file action pending further information: send RNTO with the new name.\r\n",
	"350 OK\r\n":                      "350 Requested file action pending further information.\r\n",
	"200 Good to know\r\n":            "200 Command okay.\r\n",
	"200 Whatever\r\n":                "200 Command okay.\r\n",
	"200 I'm in UTF8 only anyway\r\n": "200 UTF8 is always on.\r\n",
	"200 Using stream mode\r\n":       "200 Mode set to S (stream).\r\n",
	"211- These are my features\r\n":  "211-Extensions supported:\r\n",
	"211 end\r\n":                     "211 End\r\n",
	" MLST\r\n":                       " MLST " + mlstFacts + "\r\n",
	"501 Don't know this option\r\n":  "501 Unknown option: OPTS UTF8 ON or OPTS MLST <facts>\r\n",
	"502 This command hasn't been implemented !\r\n":   "502 Command not implemented.\r\n",
	"504 This extension hasn't been implemented !\r\n": "504 Command not implemented for that parameter.\r\n",
}

// mlstFacts are the facts ftpserverlib writes in MLSD/MLST, always all of
// them (FEAT syntax: * marks the ones in use).
const mlstFacts = "type*;size*;modify*;"

func (c *ctrlConn) Read(p []byte) (int, error) {
	for {
		if len(c.ready) > 0 {
			n := copy(p, c.ready)
			c.ready = c.ready[n:]
			return n, nil
		}
		if len(c.pending) > 0 {
			if !c.help {
				c.ready, c.pending = c.pending, nil
				continue
			}
			if c.aborLF && c.pending[0] == '\n' {
				c.pending = c.pending[1:]
			}
			c.aborLF = false
			if line, ok := c.nextLine(); ok {
				if reply := c.answer(line); reply != "" {
					_, _ = c.Write([]byte(reply))
					if strings.HasPrefix(reply, "234 ") {
						c.startTLS()
					}
					continue
				}
				c.noteCommand(line)
				c.ready = line
				if c.substitute != nil {
					c.ready, c.substitute = c.substitute, nil
				}
				continue
			}
			// Otherwise an incomplete line: read the rest.
		}
		watched, stop := c.waitForLine()
		if stop {
			return c.endForStop()
		}
		lower := c.lower()
		n, err := lower.Read(c.buf[:])
		if watched && !c.waiting.CompareAndSwap(true, false) {
			return c.endForStop() // woken by the stop: what was read is dropped
		}
		if n > 0 {
			c.pending = append(c.pending, c.buf[:n]...)
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.idle > 0 && !c.readDead.IsZero() {
				// Idle on the control connection, but is a transfer
				// moving data? Then the session is not idle.
				if last, busy := c.client.busyWithin(c.idle); busy {
					c.readDead = last.Add(c.idle)
					_ = lower.SetReadDeadline(c.readDead)
					continue
				}
				c.client.note("idle for %s: closing the control connection (421)", c.idle)
			}
			return 0, err
		}
	}
}

// nextLine takes the next command line off pending. A line without its LF
// yet is held back (nc or telnet in character mode send a command in
// pieces), unless it is too long to be a command, or an ABOR whose LF was
// sent as urgent data.
func (c *ctrlConn) nextLine() ([]byte, bool) {
	// Telnet IP and Synch (IAC IP, IAC DM) that some clients send before
	// ABOR (RFC 959 4.1.3) are not part of the command.
	for len(c.pending) > 0 && (c.pending[0] == 0xff || c.pending[0] == 0xf4 || c.pending[0] == 0xf2) {
		c.pending = c.pending[1:]
	}
	if len(c.pending) >= 5 && bytes.EqualFold(c.pending[:5], []byte("ABOR\r")) &&
		(len(c.pending) == 5 || c.pending[5] != '\n') {
		c.pending = c.pending[5:]
		c.aborLF = true
		return []byte("ABOR\r\n"), true
	}
	i := bytes.IndexByte(c.pending, '\n')
	if i < 0 {
		if len(c.pending) >= len(c.buf) {
			line := c.pending
			c.pending = nil
			return line, true
		}
		return nil, false
	}
	line := c.pending[:i+1]
	c.pending = c.pending[i+1:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return line, true
}

// noteCommand remembers whether the command handed to the library is a
// LIST (see ownerConn), and that a transfer is under way (stop.go).
func (c *ctrlConn) noteCommand(line []byte) {
	cmd, _, _ := strings.Cut(strings.TrimSpace(string(line)), " ")
	switch strings.ToUpper(cmd) {
	case "LIST":
		c.client.listing.Store(true)
	case "RETR", "STOR", "APPE", "NLST", "MLSD", "STOU":
		c.client.listing.Store(false)
	default:
		return
	}
	c.transferOpen.Store(true)
}

// pasvPort returns the port of a 227 or 229 reply line, else 0.
func pasvPort(p []byte) int {
	s := string(p)
	switch {
	case strings.HasPrefix(s, "229 "):
		i := strings.Index(s, "(|||")
		j := strings.Index(s, "|)")
		if i >= 0 && j > i+4 {
			n, _ := strconv.Atoi(s[i+4 : j])
			return n
		}
	case strings.HasPrefix(s, "227 "):
		i := strings.IndexByte(s, '(')
		j := strings.IndexByte(s, ')')
		if i >= 0 && j > i {
			f := strings.Split(s[i+1:j], ",")
			if len(f) == 6 {
				hi, _ := strconv.Atoi(f[4])
				lo, _ := strconv.Atoi(f[5])
				return hi*256 + lo
			}
		}
	}
	return 0
}

// ownerConn is a data connection (passive or active, above the TLS of
// PROT P) whose LIST lines name the user as owner and group: the library
// writes the constant "ftp ftp".
type ownerConn struct {
	net.Conn
	client *client
}

// NetConn lets sessions.FromConn find the recording conn.
func (c *ownerConn) NetConn() net.Conn { return c.Conn }

// ReadFrom passes a download on to the recording conn's ReadFrom, which
// sendfile(2)s the file (transfer.WriteTo hands it the *os.File):
// embedding net.Conn hides it, and without this method a RETR went
// through 32 KiB writes. A listing keeps going through Write.
func (c *ownerConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok && !c.client.listing.Load() {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c}, r)
}

// WriteTo passes an upload (io.Copy(file, dataConn)) on to the recording
// conn's WriteTo, which splices the socket into the file once the
// transcript is full: embedding net.Conn hides it, and without this
// method a STOR went through read(2) and write(2) of 32 KiB, twice the
// CPU of vsftpd's upload.
func (c *ownerConn) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{c})
}

var listOwner = regexp.MustCompile(`^([-dlcbps][-rwxsStT]{9} +\d+) ftp ftp `)

// statListLine is a line of STAT <path> on the control connection: the
// library writes " %s" literally before each line of a directory (a format
// string passed as text) and "ftp ftp" as owner.
var statListLine = regexp.MustCompile(`^ (?:%s)?([-dlcbps][-rwxsStT]{9} +\d+) ftp ftp `)

// statLine fixes a STAT <path> listing line (the library writes and
// flushes one line at a time).
func (c *ctrlConn) statLine(p []byte) ([]byte, bool) {
	if len(p) == 0 || p[0] != ' ' || !statListLine.Match(p) {
		return p, false
	}
	owner := "ftp"
	if u := c.client.userName(); u != "" && !c.client.isAnon() {
		owner = u
	}
	return statListLine.ReplaceAll(p, []byte(" ${1} "+owner+" "+owner+" ")), true
}

func (c *ownerConn) Write(p []byte) (int, error) {
	if c.client.listing.Load() && listOwner.Match(p) {
		if u := c.client.userName(); u != "" && !c.client.isAnon() {
			q := listOwner.ReplaceAll(p, []byte("${1} "+u+" "+u+" "))
			if _, err := c.Conn.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// answer returns labd's own reply to a command line, or "" to hand the
// line to the library.
func (c *ctrlConn) answer(line []byte) string {
	text := strings.TrimRight(string(line), "\r\n")
	cmd, arg, _ := strings.Cut(text, " ")
	arg = strings.TrimSpace(arg)
	if reply := c.blockActive(strings.ToUpper(cmd)); reply != "" {
		return reply
	}
	if reply := c.answerTLS(strings.ToUpper(cmd), arg); reply != "" {
		return reply
	}
	switch strings.ToUpper(cmd) {
	case "HELP":
		return helpReply(arg)
	case "STRU":
		switch strings.ToUpper(arg) {
		case "F":
			return "200 Structure set to F (file).\r\n"
		case "R", "P":
			return "504 Only STRU F (file structure) is supported.\r\n"
		}
		return "501 Syntax: STRU F\r\n"
	case "MODE":
		switch strings.ToUpper(arg) {
		case "S":
			return "200 Mode set to S (stream).\r\n"
		case "B", "C":
			return "504 Only MODE S (stream) is supported.\r\n"
		}
		return "501 Syntax: MODE S\r\n"
	case "EPSV":
		c.client.active.Store(nil)
		switch arg {
		case "", "1", "2":
		default:
			if !strings.EqualFold(arg, "ALL") {
				return "522 Network protocol not supported, use (1,2)\r\n" // RFC 2428 3
			}
		}
		if strings.EqualFold(arg, "ALL") {
			c.epsvAll = true
			return "200 EPSV ALL accepted: from now on only EPSV opens data connections.\r\n"
		}
	case "PORT", "PASV", "EPRT", "LPRT", "LPSV":
		if c.epsvAll {
			return "503 EPSV ALL was sent on this connection: use EPSV (RFC 2428).\r\n"
		}
		if cmd := strings.ToUpper(cmd); cmd == "PORT" || cmd == "EPRT" {
			return c.answerActive(cmd, arg)
		}
		c.client.active.Store(nil)
	case "OPTS":
		if arg == "" {
			return "501 Syntax: OPTS UTF8 ON or OPTS MLST <facts>\r\n"
		}
		opt, _, _ := strings.Cut(arg, " ")
		if strings.EqualFold(opt, "MLST") {
			return "200 MLST OPTS " + strings.ReplaceAll(mlstFacts, "*", "") + "\r\n"
		}
	case "TYPE":
		if arg == "" {
			return "501 Syntax: TYPE A (ASCII) or TYPE I (image, binary)\r\n"
		}
	case "ALLO":
		// RFC 959: ALLO <decimal> [R <decimal>]; nothing to reserve here.
		if n, rec, hasRec := strings.Cut(arg, " "); digits(n) && (!hasRec || len(rec) > 2 && strings.EqualFold(rec[:2], "R ") && digits(rec[2:])) {
			return "202 No storage allocation necessary.\r\n"
		}
		return "501 Syntax: ALLO <bytes> [R <record size>]\r\n"
	case "REST":
		if !digits(arg) {
			return "501 Syntax: REST <byte offset>, e.g. REST 1000\r\n"
		}
	case "SITE":
		sub, rest, _ := strings.Cut(arg, " ")
		if sub == "" {
			return "501 Syntax: SITE CHMOD <mode> <file> | MKDIR <dir> | RMDIR <dir> (SITE HELP lists them)\r\n"
		}
		if strings.EqualFold(sub, "HELP") {
			return "214 SITE commands: CHMOD <mode> <file>, MKDIR <dir>, RMDIR <dir>.\r\n"
		}
		if strings.EqualFold(sub, "CHMOD") {
			mode, file, _ := strings.Cut(strings.TrimSpace(rest), " ")
			if !octalMode(mode) || strings.TrimSpace(file) == "" {
				return "501 Syntax: SITE CHMOD <octal mode, e.g. 644 or 0755; no setuid, setgid or sticky bit> <file>\r\n"
			}
		}
	}
	return ""
}

// answerTLS answers AUTH (RFC 4217) and, with ftp.require_tls, what must
// wait for TLS; it notes PROT.
func (c *ctrlConn) answerTLS(cmd, arg string) string {
	enc := c.encrypted()
	switch cmd {
	case "AUTH":
		switch {
		case arg == "":
			return "501 Syntax: AUTH TLS\r\n"
		case enc:
			return "503 The control connection is already protected by TLS.\r\n"
		case !slices.Contains([]string{"TLS", "TLS-C", "SSL", "TLS-P"}, strings.ToUpper(arg)):
			return "504 Only AUTH TLS is supported (RFC 4217).\r\n"
		case c.tlsConf == nil:
			return "431 TLS is not configured on this server.\r\n"
		}
		return "234 AUTH TLS okay: start the TLS negotiation.\r\n"
	case "USER", "PASS":
		if c.requireTLS && !enc {
			return "530 This server requires TLS: send AUTH TLS first (ftp.require_tls; lftp and curl --ssl-reqd do).\r\n"
		}
	case "PROT":
		// Data connections get TLS from labd (active.go), not from the
		// library, so that LIST lines can be fixed inside TLS.
		switch strings.ToUpper(arg) {
		case "P", "C":
		case "S", "E":
			return "536 Only PROT P (private) and PROT C (clear) are supported.\r\n"
		default:
			return "501 Syntax: PROT P or PROT C\r\n"
		}
		if !enc {
			return "503 Send AUTH TLS first: PROT P protects data connections with the control connection's TLS.\r\n"
		}
		if strings.EqualFold(arg, "C") {
			if c.requireTLS {
				return "534 Data connections must be protected on this server (ftp.require_tls): PROT P.\r\n"
			}
			c.client.protP.Store(false)
			return "200 Protection level set to C (clear).\r\n"
		}
		c.client.protP.Store(true)
		return "200 Protection level set to P (private).\r\n"
	case "LIST", "NLST", "MLSD", "RETR", "STOR", "APPE":
		if c.requireTLS && !c.client.protP.Load() {
			return "521 Data connections must be protected on this server (ftp.require_tls): send PBSZ 0 and PROT P first.\r\n"
		}
	}
	return ""
}

func digits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// octalMode accepts permission bits only (644, 0755): no setuid, setgid
// or sticky bit on a user's files.
func octalMode(s string) bool {
	if s == "" || len(s) > 4 || len(s) == 4 && s[0] != '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// helpReply is the 214 answer to HELP [command].
func helpReply(arg string) string {
	// Fields, not arg != "": a caller that did not trim must not panic.
	if fields := strings.Fields(arg); len(fields) > 0 {
		cmd := strings.ToUpper(fields[0])
		if h, ok := helpTexts[cmd]; ok {
			return "214 Syntax: " + cmd + " " + h + "\r\n"
		}
		return "502 Unknown command " + cmd + "; HELP lists the commands\r\n"
	}
	names := make([]string, 0, len(helpTexts))
	for k := range helpTexts {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("214-The following commands are recognized (HELP <command> explains one):\r\n")
	for i := 0; i < len(names); i += 8 {
		b.WriteString(" " + strings.Join(names[i:min(i+8, len(names))], " ") + "\r\n")
	}
	b.WriteString("214 Help OK.\r\n")
	return b.String()
}

var helpTexts = map[string]string{
	"USER": "<name> (log in; anonymous for pub/ if enabled)",
	"PASS": "<password> (sent in clear: see it in Wireshark, or AUTH TLS first)",
	"ACCT": "(not implemented)",
	"AUTH": "TLS (upgrade the control connection to TLS, RFC 4217)",
	"PBSZ": "0 (protection buffer size, always 0 with TLS)",
	"PROT": "P|C (data connections private with TLS, or clear)",
	"SYST": "(system type)",
	"FEAT": "(list extensions, RFC 2389)",
	"OPTS": "UTF8 ON | MLST <facts> (RFC 3659)",
	"HELP": "[command]",
	"NOOP": "(do nothing, answer 200)",
	"QUIT": "(log out)",
	"PWD":  "(print the working directory)",
	"CWD":  "<directory>",
	"CDUP": "(go to the parent directory)",
	"MKD":  "<directory> (create)",
	"RMD":  "<directory> (remove an empty directory)",
	"LIST": "[path] (long listing over a data connection)",
	"NLST": "[path] (names only over a data connection)",
	"MLSD": "[directory] (machine listing over a data connection, RFC 3659)",
	"MLST": "[path] (machine facts of one file on the control connection, RFC 3659)",
	"TYPE": "A|I (ASCII converts line endings, Image is byte-exact)",
	"MODE": "S (stream mode only)",
	"STRU": "F (file structure only)",
	"PASV": "(passive: the server listens, reply 227 gives h1,h2,h3,h4,p1,p2)",
	"EPSV": "(extended passive, reply 229 gives the port, RFC 2428)",
	"PORT": "h1,h2,h3,h4,p1,p2 (active: the server connects to you, port = p1*256+p2)",
	"EPRT": "|1|address|port| (extended active, RFC 2428)",
	"RETR": "<file> (download)",
	"STOR": "<file> (upload)",
	"APPE": "<file> (append to a file)",
	"REST": "<offset> (restart the next RETR or STOR at offset)",
	"SIZE": "<file> (size in bytes, RFC 3659)",
	"MDTM": "<file> (modification time YYYYMMDDhhmmss UTC, RFC 3659)",
	"MFMT": "<time> <file> (set the modification time)",
	"DELE": "<file> (delete)",
	"RNFR": "<old name> (rename from, then RNTO)",
	"RNTO": "<new name> (rename to)",
	"ABOR": "(abort the transfer in progress)",
	"STAT": "[path] (server status, or a listing on the control connection)",
	"ALLO": "<bytes> (accepted, nothing to reserve)",
	"SITE": "CHMOD <mode> <file> | MKDIR <dir> | RMDIR <dir>",
	"CLNT": "<client name>",
}

// dataListener registers every passive data connection as an "ftp-data"
// session of its own (bytes, transcript, TLS), tied to its control session
// when the client address is unambiguous.
type dataListener struct {
	net.Listener
	svc *Service
}

func (l *dataListener) Accept() (net.Conn, error) {
	if cl, t := l.activeClient(); cl != nil {
		return l.dialActive(cl, t)
	}
	c, err := l.Listener.Accept()
	for err == nil && l.svc.deps.Faults.Any() && l.refusePassive(c, l.svc.onlyClientFrom(sessions.Host(c.RemoteAddr().String()))) {
		c, err = l.Listener.Accept()
	}
	if err != nil {
		return nil, err
	}
	return l.register(c, l.controlOf(c), "passive"), nil
}

// controlOf finds the control connection of a data connection: the one
// whose PASV/EPSV reply announced this listener's port, else the only
// logged-in client from the same address.
func (l *dataListener) controlOf(c net.Conn) *client {
	ip := sessions.Host(c.RemoteAddr().String())
	port := 0
	if _, lp, err := net.SplitHostPort(l.Addr().String()); err == nil {
		port, _ = strconv.Atoi(lp)
	}
	var byPort, byIP *client
	count := 0
	l.svc.clients.Range(func(_, v any) bool {
		cl := v.(*client)
		if sessions.Host(cl.remote) != ip {
			return true
		}
		if port != 0 && int(cl.pasvPort.Load()) == port {
			byPort = cl
		}
		if cl.userName() != "" {
			byIP = cl
			count++
		}
		return true
	})
	if byPort != nil {
		return byPort
	}
	if count == 1 {
		return byIP
	}
	return nil
}

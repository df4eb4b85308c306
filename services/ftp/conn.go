package ftp

import (
	"bytes"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	l.svc.clients.Store(remote, cl)
	return &ctrlConn{Conn: c, client: cl, idle: l.svc.cfg.IdleTimeout.D(), help: true}, nil
}

// ctrlConn is the control connection as ftpserverlib sees it. It does two
// things the library does not:
//
//   - The library's idle timeout is a read deadline on the control
//     connection, which also fires during a long transfer (the control
//     connection is silent meanwhile). ctrlConn extends the deadline as
//     long as a data transfer moved bytes within the idle period.
//   - The library answers HELP with 502. ctrlConn answers a plaintext
//     HELP itself, in order: it only intercepts a HELP line once the
//     library has consumed every line before it.
type ctrlConn struct {
	net.Conn
	client *client
	idle   time.Duration

	mu       sync.Mutex // serialises writes (library replies and HELP)
	pending  []byte     // read from the socket, not yet given to the library
	help     bool       // plaintext: HELP interception on
	readDead time.Time
	buf      [4096]byte
}

// NetConn lets sessions.FromConn find the recording conn.
func (c *ctrlConn) NetConn() net.Conn { return c.Conn }

func (c *ctrlConn) SetDeadline(t time.Time) error {
	c.readDead = t
	return c.Conn.SetReadDeadline(t)
}

func (c *ctrlConn) SetReadDeadline(t time.Time) error {
	c.readDead = t
	return c.Conn.SetReadDeadline(t)
}

func (c *ctrlConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(max(c.idle, time.Minute)))
	}
	if bytes.Equal(p, reply331Lib) {
		// The library's terse "331 OK" tells a student little.
		if _, err := c.Conn.Write(reply331); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

var (
	reply331Lib = []byte("331 OK\r\n")
	reply331    = []byte("331 User name okay, send PASS with the password\r\n")
)

func isHelp(b []byte) bool {
	if len(b) < 4 || !bytes.EqualFold(b[:4], []byte("HELP")) {
		return false
	}
	return len(b) == 4 || b[4] == ' ' || b[4] == '\r' || b[4] == '\n'
}

func (c *ctrlConn) Read(p []byte) (int, error) {
	for {
		if len(c.pending) > 0 {
			if c.help && c.blockActive() {
				continue
			}
			if c.help && isHelp(c.pending) {
				i := bytes.IndexByte(c.pending, '\n')
				if i >= 0 {
					line := ""
					if i > 4 {
						line = strings.TrimSpace(string(c.pending[4:i]))
					}
					c.pending = c.pending[i+1:]
					_, _ = c.Write([]byte(helpReply(line)))
					continue
				}
				// An incomplete HELP line: read the rest.
			} else if cut := c.completeLines(); cut > 0 {
				n := copy(p, c.pending[:cut])
				c.pending = c.pending[n:]
				if len(c.pending) == 0 {
					c.pending = nil
				}
				return n, nil
			}
			// Otherwise an incomplete line: read the rest.
		}
		n, err := c.Conn.Read(c.buf[:])
		if n > 0 {
			if c.pending == nil && c.buf[0] == 0x16 {
				// TLS handshake after AUTH TLS: from here on the
				// library reads ciphertext; leave it alone.
				c.help = false
			}
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
					_ = c.Conn.SetReadDeadline(c.readDead)
					continue
				}
				c.client.note("idle for %s: closing the control connection (421)", c.idle)
			}
			return 0, err
		}
	}
}

// completeLines returns how much of pending the library may have: every
// complete line up to (not including) a HELP line. A line without its LF
// yet is held back (nc or telnet in character mode send a command in
// pieces), unless it is too long to be a command or the connection
// carries TLS.
func (c *ctrlConn) completeLines() int {
	if !c.help {
		return len(c.pending)
	}
	cut := 0
	for pos := 0; ; {
		i := bytes.IndexByte(c.pending[pos:], '\n')
		if i < 0 {
			break
		}
		cut = pos + i + 1
		if cut < len(c.pending) && isHelp(c.pending[cut:]) {
			break
		}
		pos = cut
	}
	if cut == 0 && len(c.pending) >= len(c.buf) {
		return len(c.pending)
	}
	return cut
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
	"OPTS": "UTF8 ON",
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
	c, err := l.Listener.Accept()
	for err == nil && l.svc.deps.Faults.Any() && l.refusePassive(c, l.svc.onlyClientFrom(hostOf(c.RemoteAddr().String()))) {
		c, err = l.Listener.Accept()
	}
	if err != nil {
		return nil, err
	}
	rc := sessions.Wrap(l.svc.deps.Sessions, "ftp-data", c)
	sess := rc.Session()
	sess.SetAttr("mode", "passive")
	ip := hostOf(c.RemoteAddr().String())
	var match *client
	count := 0
	l.svc.clients.Range(func(_, v any) bool {
		cl := v.(*client)
		if hostOf(cl.remote) == ip && cl.userName() != "" {
			match = cl
			count++
		}
		return true
	})
	if count == 1 {
		if u := match.userName(); u != "" {
			sess.SetUser(u)
		}
		if match.sess != nil {
			sess.SetAttr("control_session", strconv.FormatUint(match.sess.ID(), 10))
			match.note("passive data connection from %s (session %d)", c.RemoteAddr(), sess.ID())
		}
	}
	return rc, nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

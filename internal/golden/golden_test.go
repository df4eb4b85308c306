package golden_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"labd/config"
	"labd/internal/labtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt from what the daemon says")

// TestGolden plays one scripted exchange per protocol against one running
// daemon and compares the normalised transcript with testdata/<proto>.txt.
// The subtests run in order: SMTP delivers the message that POP3 and IMAP
// then read.
func TestGolden(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	pub := filepath.Join(cfg.Server.DataDir, "pub")
	if cfg.TFTP.Root != "" {
		pub = cfg.TFTP.Root
	}
	if err := os.MkdirAll(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pub, "golden.txt"), []byte("line one\nline two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &golden{cfg: cfg, d: d}
	for _, tc := range []struct {
		proto string
		run   func(*testing.T, *golden) string
	}{
		{"smtp", smtpScript},
		{"pop3", pop3Script},
		{"imap", imapScript},
		{"ftp", ftpScript},
		{"telnet", telnetScript},
		{"http", httpScript},
		{"ssh", sshScript},
		{"dns", dnsScript},
		{"tftp", tftpScript},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			got := g.normalise(tc.run(t, g))
			compare(t, tc.proto, got)
		})
	}
}

type golden struct {
	cfg *config.Config
	d   *labtest.Daemon
}

func compare(t *testing.T, proto, got string) {
	t.Helper()
	file := filepath.Join("testdata", proto+".txt")
	head := "# What a client sees of labd's " + proto + ", normalised (see golden_test.go).\n" +
		"# Rewrite with: go test ./internal/golden/ -run TestGolden -update (then review the diff)\n"
	got = head + got
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s transcript changed; if the change is meant, run go test ./internal/golden/ -update and commit the diff.\n%s", proto, diff(string(want), got))
	}
}

// diff shows the first differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// normalise replaces what changes from run to run: addresses and ports,
// dates and times, and generated identifiers. The rules only match the
// shapes labd produces, so a real change in a reply still shows.
func (g *golden) normalise(s string) string {
	for _, ep := range g.d.Endpoints {
		_, port, err := net.SplitHostPort(ep.Addr)
		if err == nil && port != "0" {
			s = regexp.MustCompile(`\b(127\.0\.0\.1|localhost|\[::1\]|::1)([:.| ,]+)`+port+`\b`).ReplaceAllString(s, "${1}${2}<port>")
		}
	}
	for _, r := range normalisers {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	// Client ports (Received: headers, transcripts).
	{regexp.MustCompile(`(127\.0\.0\.1|\[127\.0\.0\.1\])([:\]]+)\d{2,5}\b`), "$1$2<port>"},
	// FTP passive replies: 227 (h1,h2,h3,h4,p1,p2) and 229 (|||port|).
	{regexp.MustCompile(`\((\d+,\d+,\d+,\d+),\d+,\d+\)`), "($1,<p1>,<p2>)"},
	{regexp.MustCompile(`\(\|\|\|\d+\|\)`), "(|||<port>|)"},
	// RFC 5322 / RFC 1123 dates: Mon, 30 Nov 2026 16:30:50 +0000 (UTC) / GMT.
	{regexp.MustCompile(`(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2}(?: [+-]\d{4}| GMT| UTC)?(?: \([A-Z]+\))?`), "<date>"},
	// IMAP INTERNALDATE: "30-Nov-2026 16:30:50 +0000".
	{regexp.MustCompile(`\d{2}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}`), "<date>"},
	// ISO 8601 times and plain clock times.
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?`), "<time>"},
	// IMAP UIDVALIDITY, generated message and queue IDs.
	{regexp.MustCompile(`UIDVALIDITY \d+`), "UIDVALIDITY <n>"},
	{regexp.MustCompile(`(?i)(Message-ID: *<)[^>]+>`), "${1}<id>>"},
	{regexp.MustCompile(`(with E?SMTPS?A? id )[0-9A-Za-z]+`), "${1}<id>"},
	{regexp.MustCompile(`(delivered to \d+ mailbox\(es\) as )[0-9A-Za-z]+`), "${1}<id>"},
	// DNS message IDs and SOA serials.
	{regexp.MustCompile(`id: \d+`), "id: <id>"},
	{regexp.MustCompile(`(\tSOA\t\S+ \S+ )\d+`), "${1}<serial>"},
}

// A transcript records a conversation as C:/S: lines, exactly: line ends
// and control bytes are shown escaped.
type transcript struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	out  strings.Builder
	recv []byte
}

func (g *golden) dial(t *testing.T, svc string) *transcript {
	c := labtest.Dial(t, g.d.Addr(t, svc, "tcp"))
	return &transcript{t: t, c: c, br: bufio.NewReader(c)}
}

func (tr *transcript) send(s string) {
	tr.t.Helper()
	tr.flush()
	tr.emit("C", []byte(s))
	if _, err := tr.c.Write([]byte(s)); err != nil {
		tr.t.Fatalf("send %q: %v", s, err)
	}
}

// until reads until done says the reply is complete.
func (tr *transcript) until(done func(got []byte) bool) {
	tr.t.Helper()
	start := len(tr.recv)
	for !done(tr.recv[start:]) {
		b, err := tr.br.ReadByte()
		if err != nil {
			tr.t.Fatalf("waiting for the reply: %v (got %q)", err, tr.recv[start:])
		}
		tr.recv = append(tr.recv, b)
	}
}

// line reads until a CRLF-terminated line matching re (the last line of a
// reply) arrived.
func (tr *transcript) line(re string) {
	tr.t.Helper()
	rx := regexp.MustCompile(re)
	tr.until(func(got []byte) bool {
		if !bytes.HasSuffix(got, []byte("\n")) {
			return false
		}
		lines := bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n"))
		return rx.Match(bytes.TrimSuffix(lines[len(lines)-1], []byte("\r")))
	})
}

// text reads until s arrived.
func (tr *transcript) text(s string) {
	tr.t.Helper()
	tr.until(func(got []byte) bool { return bytes.HasSuffix(got, []byte(s)) })
}

// eof reads until the server closes.
func (tr *transcript) eof() {
	tr.t.Helper()
	for {
		b, err := tr.br.ReadByte()
		if err != nil {
			break
		}
		tr.recv = append(tr.recv, b)
	}
	tr.flush()
	tr.out.WriteString("(closed by the server)\n")
}

func (tr *transcript) flush() {
	if len(tr.recv) > 0 {
		tr.emit("S", tr.recv)
		tr.recv = nil
	}
}

func (tr *transcript) emit(dir string, data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i+1], data[i+1:]
		}
		tr.out.WriteString(dir + ": " + escape(line) + "\n")
	}
}

func (tr *transcript) String() string {
	tr.flush()
	return tr.out.String()
}

// escape shows a line exactly: CR, LF, TAB and other control bytes
// escaped, so that a bare LF or a missing CR is visible; a trailing space
// is escaped so that no editor loses it.
func escape(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == '\\':
			s.WriteString(`\\`)
		case c == '\r':
			s.WriteString(`\r`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\t':
			s.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&s, `\x%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	out := s.String()
	if strings.HasSuffix(out, " ") {
		out = strings.TrimSuffix(out, " ") + `\x20`
	}
	return out
}

const (
	reSMTPEnd = `^\d{3} `
	reFTPEnd  = `^\d{3} `
)

func smtpScript(t *testing.T, g *golden) string {
	tr := g.dial(t, "smtp")
	tr.line(reSMTPEnd)
	for _, cmd := range []string{
		"EHLO client.example\r\n", "HELP\r\n", "VRFY alice\r\n", "MAIL FROM:<teacher@example.com>\r\n",
		"RCPT TO:<nobody@lab.test>\r\n", "RCPT TO:<alice@lab.test>\r\n", "DATA\r\n",
	} {
		tr.send(cmd)
		tr.line(reSMTPEnd)
	}
	tr.send("From: Teacher <teacher@example.com>\r\nTo: alice@lab.test\r\nSubject: golden\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <golden@example.com>\r\n\r\nHello Alice.\r\n.\r\n")
	tr.line(reSMTPEnd)
	tr.send("BDAT 10 LAST\r\n")
	tr.line(reSMTPEnd)
	tr.send("QUIT\r\n")
	tr.eof()
	return tr.String()
}

func pop3Script(t *testing.T, g *golden) string {
	tr := g.dial(t, "pop3")
	tr.line(`^\+OK`)
	for _, c := range []struct{ cmd, end string }{
		{"CAPA\r\n", `^\.$`}, {"STAT\r\n", `^-ERR`}, {"USER alice\r\n", `^\+OK`}, {"PASS wrong\r\n", `^-ERR`},
		{"USER alice\r\n", `^\+OK`}, {"PASS alice\r\n", `^\+OK`}, {"STAT\r\n", `^\+OK`}, {"LIST\r\n", `^\.$`},
		{"UIDL\r\n", `^\.$`}, {"TOP 1 0\r\n", `^\.$`}, {"RETR 1\r\n", `^\.$`}, {"RETR 9\r\n", `^-ERR`}, {"NOOP\r\n", `^\+OK`},
	} {
		tr.send(c.cmd)
		tr.line(c.end)
	}
	tr.send("QUIT\r\n")
	tr.eof()
	// UIDL's unique-ids are UIDVALIDITY.UID.
	return regexp.MustCompile(`(?m)^(S: \d+ )\d+\.(\d+\\r\\n)$`).ReplaceAllString(tr.String(), "${1}<uidvalidity>.${2}")
}

func imapScript(t *testing.T, g *golden) string {
	tr := g.dial(t, "imap")
	tr.line(`^\* OK`)
	for _, c := range []string{
		"a1 CAPABILITY", "a2 LOGIN alice wrong", "a3 LOGIN alice alice", "a4 LIST \"\" \"*\"", "a5 SELECT INBOX",
		"a6 FETCH 1 (FLAGS RFC822.SIZE ENVELOPE)", "a7 FETCH 1 BODY[HEADER.FIELDS (SUBJECT FROM)]", "a8 STORE 1 +FLAGS (\\Flagged)",
		"a9 SEARCH SUBJECT golden", "b1 NOSUCH", "b2 LOGOUT",
	} {
		tr.send(c + "\r\n")
		tag := strings.Fields(c)[0]
		tr.line(`^` + tag + ` (OK|NO|BAD)`)
	}
	tr.eof()
	return tr.String()
}

func ftpScript(t *testing.T, g *golden) string {
	tr := g.dial(t, "ftp")
	tr.line(reFTPEnd)
	for _, c := range []string{
		"USER alice\r\n", "PASS alice\r\n", "SYST\r\n", "FEAT\r\n", "PWD\r\n", "MKD golden\r\n", "CWD golden\r\n",
		"PWD\r\n", "CDUP\r\n", "RMD golden\r\n", "TYPE I\r\n", "SIZE nosuch\r\n", "HELP\r\n", "HELP RETR\r\n",
		"EPSV\r\n", "NOSUCH\r\n",
	} {
		tr.send(c)
		tr.line(reFTPEnd)
	}
	tr.send("QUIT\r\n")
	tr.line(reFTPEnd)
	tr.eof()
	return tr.String()
}

func telnetScript(t *testing.T, g *golden) string {
	tr := g.dial(t, "telnet")
	// Agree to ECHO and SGA, refuse NAWS and TTYPE, so that the server
	// needs no terminal. The answers go out before the server's opening
	// is read: they are then in its socket when it starts waiting for
	// them, however loaded the machine (a late answer would turn the
	// server's echo off).
	tr.send("\xff\xfd\x01\xff\xfd\x03\xff\xfc\x1f\xff\xfc\x18")
	tr.text("\xff\xfd\x18") // the server's opening: WILL ECHO, WILL SGA, DO NAWS, DO TTYPE
	tr.text("login: ")
	tr.send("alice\r\n")
	tr.text("Password: ")
	tr.send("alice\r\n")
	tr.text("alice@labd:~$ ")
	for _, c := range []string{"pwd\r\n", "echo hello > f.txt\r\n", "cat f.txt\r\n", "nosuch\r\n"} {
		tr.send(c)
		tr.text("alice@labd:~$ ")
	}
	tr.send("exit\r\n")
	tr.eof()
	return tr.String()
}

func httpScript(t *testing.T, g *golden) string {
	var all strings.Builder
	for _, req := range []string{
		"GET /echo HTTP/1.1\r\nHost: www.lab.test\r\nUser-Agent: golden\r\nConnection: close\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: www.lab.test\r\nConnection: close\r\n\r\n",
		"GET /redirect HTTP/1.0\r\nHost: www.lab.test\r\n\r\n",
		"HEAD /status/418 HTTP/1.1\r\nHost: www.lab.test\r\nConnection: close\r\n\r\n",
		"BREW / HTTP/1.1\r\n\r\n",
	} {
		tr := g.dial(t, "http")
		tr.send(req)
		tr.eof()
		out := tr.String()
		if strings.Contains(out, "Client address: ") {
			// The echo page shows both ports, whose digits vary.
			out = regexp.MustCompile(`(S: Content-Length: )\d+`).ReplaceAllString(out, "${1}<n>")
		}
		all.WriteString(out)
		all.WriteString("\n")
	}
	// The Date header.
	s := regexp.MustCompile(`(?m)^(S: Date: ).*\\r\\n$`).ReplaceAllString(all.String(), "${1}<date>\\r\\n")
	return s
}

func sshScript(t *testing.T, g *golden) string {
	// SSH is encrypted after the version exchange: only the banner is
	// what a student reads (nc localhost 22).
	tr := g.dial(t, "ssh")
	tr.send("SSH-2.0-golden\r\n")
	tr.line(`^SSH-`)
	return tr.String()
}

func dnsScript(t *testing.T, g *golden) string {
	addr := g.d.Addr(t, "dns", "udp")
	var b strings.Builder
	for _, q := range []struct {
		name  string
		qtype uint16
		tcp   bool
	}{
		{"labd.lab.test.", dns.TypeA, false},
		{"lab.test.", dns.TypeMX, false},
		{"lab.test.", dns.TypeNS, true},
		{"www.lab.test.", dns.TypeA, false},
		{"nosuch.lab.test.", dns.TypeA, false},
		{"example.com.", dns.TypeA, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.Id = 4242
		cl := &dns.Client{Timeout: 10 * time.Second}
		network := "udp"
		a := addr
		if q.tcp {
			cl.Net, network, a = "tcp", "tcp", g.d.Addr(t, "dns", "tcp")
		}
		r, _, err := cl.Exchange(m, a)
		if err != nil {
			t.Fatalf("%s %s: %v", q.name, dns.TypeToString[q.qtype], err)
		}
		fmt.Fprintf(&b, "C: %s %s IN %s\n", network, q.name, dns.TypeToString[q.qtype])
		for _, l := range strings.Split(strings.TrimSpace(r.String()), "\n") {
			b.WriteString("S: " + l + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func tftpScript(t *testing.T, g *golden) string {
	addr, err := net.ResolveUDPAddr("udp", g.d.Addr(t, "tftp", "udp"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, rrq := range []struct{ file, mode string }{{"golden.txt", "octet"}, {"golden.txt", "netascii"}, {"nosuch.txt", "octet"}, {"../etc/passwd", "octet"}} {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		pkt := append([]byte{0, 1}, rrq.file+"\x00"+rrq.mode+"\x00"...)
		b.WriteString("C: " + tftpString(pkt) + "\n")
		if _, err := c.WriteToUDP(pkt, addr); err != nil {
			t.Fatal(err)
		}
		for {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 1024)
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("RRQ %s: %v", rrq.file, err)
			}
			b.WriteString("S: " + tftpString(buf[:n]) + "\n")
			if n < 4 || binary.BigEndian.Uint16(buf) != 3 {
				break // an error (or something else) ends the transfer
			}
			ack := []byte{0, 4, buf[2], buf[3]}
			b.WriteString("C: " + tftpString(ack) + "\n")
			if _, err := c.WriteToUDP(ack, from); err != nil {
				t.Fatal(err)
			}
			if n < 4+512 {
				break
			}
		}
		c.Close()
		b.WriteString("\n")
	}
	return b.String()
}

// tftpString decodes a TFTP packet for the transcript.
func tftpString(p []byte) string {
	if len(p) < 2 {
		return fmt.Sprintf("short packet %q", p)
	}
	op := binary.BigEndian.Uint16(p)
	switch op {
	case 1, 2:
		f := strings.Split(string(p[2:]), "\x00")
		name := map[uint16]string{1: "RRQ", 2: "WRQ"}[op]
		return name + " " + strings.Join(f[:len(f)-1], " ")
	case 3:
		return fmt.Sprintf("DATA block %d, %d bytes: %s", binary.BigEndian.Uint16(p[2:]), len(p)-4, escape(p[4:]))
	case 4:
		return fmt.Sprintf("ACK block %d", binary.BigEndian.Uint16(p[2:]))
	case 5:
		return fmt.Sprintf("ERROR code %d: %s", binary.BigEndian.Uint16(p[2:]), escape(bytes.TrimSuffix(p[4:], []byte{0})))
	case 6:
		return "OACK " + strings.Join(strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00"), " ")
	}
	return fmt.Sprintf("opcode %d: %q", op, p[2:])
}

package imap_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
	imapsvc "labd/services/imap"
)

type rawIMAP struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawIMAP {
	c := labtest.Dial(t, addr)
	r := &rawIMAP{t, c, bufio.NewReader(c)}
	r.until("* OK")
	return r
}

// until reads lines until one starts with prefix and returns it; it fails
// the test on EOF or after 10 s.
func (r *rawIMAP) until(prefix string) string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
}

func (r *rawIMAP) cmd(line, prefix string) string {
	r.t.Helper()
	fmt.Fprintf(r.c, "%s\r\n", line)
	return r.until(prefix)
}

// TestHugeLiteralBeforeLogin: announcing a 4 GB literal before login gets
// a tagged answer at once (not a hanging client), and the server goes on.
func TestHugeLiteralBeforeLogin(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { testHugeLiteralBeforeLogin(t, mode) })
	}
}

func testHugeLiteralBeforeLogin(t *testing.T, mode string) {
	e := start(t)
	for _, lit := range []string{"{4294967296}", "{4294967296+}", "{99999999999999999999}", "{00000000000000000000001}"} {
		c, br, _ := dialMode(t, e, mode)
		r := &rawIMAP{t, c, br}
		fmt.Fprintf(r.c, "x LOGIN %s\r\n", lit)
		line := r.until("")
		for strings.HasPrefix(line, "* ") && !strings.HasPrefix(line, "* BYE") {
			line = r.until("")
		}
		if !strings.HasPrefix(line, "x NO") && !strings.HasPrefix(line, "x BAD") && !strings.HasPrefix(line, "* BYE") {
			t.Errorf("%s LOGIN %s: %q, want x BAD, x NO or * BYE", mode, lit, line)
		}
	}
	c, br, _ := dialMode(t, e, mode)
	r := &rawIMAP{t, c, br}
	r.cmd("a LOGIN alice alice", "a OK")
}

// TestSearchLimits: SEARCH with 20,000 numbers or deep nesting answers BAD
// or NO [LIMIT], and the session goes on.
func TestSearchLimits(t *testing.T) {
	e := start(t)
	deliver(t, e.deps, "alice", msg1, msg2)
	r := dialRaw(t, e.plain)
	r.cmd("a LOGIN alice alice", "a OK")
	r.cmd("b SELECT INBOX", "b OK")
	nums := make([]string, 20000)
	for i := range nums {
		nums[i] = fmt.Sprint(i + 1)
	}
	deep := strings.Repeat("(", 2000) + "ALL" + strings.Repeat(")", 2000)
	nots := strings.Repeat("NOT ", 5000) + "ALL"
	ors := strings.Repeat("OR ALL ", 3000) + "ALL"
	for name, q := range map[string]string{
		"20000 numbers":   strings.Join(nums, ","),
		"20000 sequences": strings.Join(nums, " "),
		"20000 ones":      strings.TrimSuffix(strings.Repeat("1,", 20000), ","),
		"deep nesting":    deep,
		"5000 NOTs":       nots,
		"3000 ORs":        ors,
	} {
		fmt.Fprintf(r.c, "c SEARCH %s\r\n", q)
		line := r.until("c ")
		if !strings.HasPrefix(line, "c BAD") && !strings.HasPrefix(line, "c NO [LIMIT]") && !strings.HasPrefix(line, "c OK") {
			t.Errorf("%s: %q, want BAD or NO [LIMIT]", name, line)
		}
		t.Logf("%s: %s", name, strings.TrimSpace(line))
		r.cmd("d NOOP", "d OK")
	}
	r.cmd("e SEARCH SUBJECT banana", "e OK")
}

// FuzzCmdLimiter: whatever a client sends, the limiter neither panics nor
// passes on a command line longer than the library accepts (outside
// literals), and passes everything else through in order.
func FuzzCmdLimiter(f *testing.F) {
	f.Add([]byte("a LOGIN alice alice\r\n"), 7)
	f.Add([]byte("x LOGIN {4294967296}\r\n"), 3)
	f.Add([]byte("a APPEND INBOX {5}\r\nhello\r\nb NOOP\r\n"), 11)
	f.Add([]byte("c SEARCH ((((((ALL))))))\r\n"), 1)
	f.Add([]byte("\x16\x03\x01\x00\x05hello"), 2)
	f.Add([]byte("a LOGIN {3+}\r\nabc {99999999999999999999999}\r\n"), 5)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		out := imapsvc.FeedLimiter(in, chunk, 1000)
		if len(out) > len(in) {
			t.Fatalf("limiter produced %d bytes from %d", len(out), len(in))
		}
	})
}

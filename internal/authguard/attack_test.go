package authguard_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"labd/internal/labtest"
)

// guess makes one wrong login for alice on one protocol with a fresh
// connection from the given local address, as a brute-force script does,
// and reports whether the server answered.
type guess func(addr string, from net.IP, pass string) bool

func dialFrom(addr string, from net.IP) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: from}}
	c, err := d.Dial("tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(40 * time.Second))
	}
	return c, err
}

// lineGuess runs a text dialogue: each step sends a line (if any) then
// reads lines until one starts with the wanted prefix of any outcome.
func lineGuess(steps func(pass string) [][2]string) guess {
	return func(addr string, from net.IP, pass string) bool {
		c, err := dialFrom(addr, from)
		if err != nil {
			return false
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for _, st := range steps(pass) {
			if st[0] != "" {
				fmt.Fprint(c, st[0]+"\r\n")
			}
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return false
				}
				if matchAny(line, st[1]) {
					break
				}
			}
		}
		return true
	}
}

func matchAny(line, prefixes string) bool {
	for _, p := range strings.Split(prefixes, "|") {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// waitFor reads until s has been seen (telnet prompts end without a
// newline, among negotiation bytes).
func waitFor(br *bufio.Reader, s ...string) bool {
	var seen []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return false
		}
		seen = append(seen, b)
		for _, w := range s {
			if strings.HasSuffix(string(seen), w) {
				return true
			}
		}
		if len(seen) > 4096 {
			seen = seen[2048:]
		}
	}
}

var guesses = map[string]guess{
	"telnet": func(addr string, from net.IP, pass string) bool {
		c, err := dialFrom(addr, from)
		if err != nil {
			return false
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if !waitFor(br, "login: ") {
			return false
		}
		fmt.Fprint(c, "alice\r\n")
		if !waitFor(br, "Password: ") {
			return false
		}
		fmt.Fprint(c, pass+"\r\n")
		return waitFor(br, "incorrect", "$ ", "> ")
	},
	"submission": lineGuess(func(p string) [][2]string {
		return [][2]string{{"", "220 "}, {"EHLO x", "250 "}, {"AUTH PLAIN " + plain("alice", p), "235|535|454"}}
	}),
	"pop3": lineGuess(func(p string) [][2]string {
		return [][2]string{{"", "+OK"}, {"USER alice", "+OK|-ERR"}, {"PASS " + p, "+OK|-ERR"}}
	}),
	"imap": lineGuess(func(p string) [][2]string {
		return [][2]string{{"", "* OK"}, {"a LOGIN alice " + p, "a OK|a NO|a BAD|* BYE"}}
	}),
	"ftp": lineGuess(func(p string) [][2]string {
		return [][2]string{{"", "220 "}, {"USER alice", "331 |530 "}, {"PASS " + p, "230 |530 |421 "}}
	}),
	"http": func(addr string, from net.IP, pass string) bool {
		c := &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return dialFrom(a, from) },
		}}
		req, _ := http.NewRequest("GET", "http://"+addr+"/auth", nil)
		req.SetBasicAuth("alice", pass)
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	},
	"ssh": func(addr string, from net.IP, pass string) bool {
		c, err := dialFrom(addr, from)
		if err != nil {
			return false
		}
		defer c.Close()
		conn, _, _, err := ssh.NewClientConn(c, addr, &ssh.ClientConfig{
			User: "alice", Auth: []ssh.AuthMethod{ssh.Password(pass)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 40 * time.Second,
		})
		if err == nil {
			conn.Close()
			return true
		}
		return strings.Contains(err.Error(), "unable to authenticate")
	},
}

// TestParallelBruteForceAcrossProtocols: a student runs eight guessing
// loops on each of seven protocols against alice from one address. The
// passwords checked over the window stay near one a second, and alice
// herself, from another address, logs in during the attack.
func TestParallelBruteForceAcrossProtocols(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	attacker, owner := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)
	addrs := map[string]string{}
	for name := range guesses {
		addrs[name] = d.Addr(t, name, "tcp")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var answered atomic.Int64
	per := map[string]*atomic.Int64{}
	for name := range guesses {
		per[name] = new(atomic.Int64)
	}
	for name, g := range guesses {
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					if g(addrs[name], attacker, fmt.Sprintf("guess-%s-%d-%d", name, w, i)) {
						answered.Add(1)
						per[name].Add(1)
					} else {
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
	}
	// Let the free tries and the first burst pass, then measure.
	time.Sleep(3 * time.Second)
	before, a0 := d.Deps.Guard.Checks("alice"), answered.Load()
	const window = 10 * time.Second
	time.Sleep(window / 2)
	t0 := time.Now()
	ok := guesses["pop3"](addrs["pop3"], owner, "alice")
	ownerWait := time.Since(t0)
	time.Sleep(window / 2)
	checked, replies := d.Deps.Guard.Checks("alice")-before-1, answered.Load()-a0
	cancel()
	wg.Wait()
	rate := float64(checked) / window.Seconds()
	for name, n := range per {
		if n.Load() == 0 {
			t.Errorf("%s: no guess was answered at all: the attack did not run", name)
		}
	}
	t.Logf("56 guessing loops on 7 protocols for %v: %d passwords checked (%.2f/s), %d answers; the owner from another address waited %v", window, checked, rate, replies, ownerWait.Round(time.Millisecond))
	if rate > 2 {
		t.Errorf("%.2f guesses checked per second on one account, want about 1 at most", rate)
	}
	if !ok {
		t.Error("the owner's POP3 login from another address got no answer")
	}
	if ownerWait > 10*time.Second {
		t.Errorf("the owner waited %v, want a few seconds at most", ownerWait)
	}
	// The teacher sees the throttling on the attacker's sessions.
	marked := 0
	for _, in := range d.Deps.Sessions.List() {
		if in.Attrs["auth_throttled"] == "alice" {
			marked++
		}
	}
	if marked == 0 {
		t.Error("no session is marked auth_throttled")
	}
	// The owner really got in.
	if n := countLogins(d, "alice", "127.0.0.2"); n == 0 {
		t.Error("no logged-in session of alice from 127.0.0.2")
	}
}

func countLogins(d *labtest.Daemon, user, ip string) int {
	n := 0
	for _, in := range d.Deps.Sessions.List() {
		if in.User == user && strings.HasPrefix(in.Remote, ip+":") {
			n++
		}
	}
	return n
}

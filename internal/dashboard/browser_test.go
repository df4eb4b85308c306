package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"labd/internal/labtest"
)

// TestBrowserLiveSessions drives the dashboard in headless Chromium against
// the whole daemon: log in through the form, open the sessions page, make
// an SMTP session from the test, see its row appear without a reload, open
// its transcript and find the MAIL FROM line that was typed.
func TestBrowserLiveSessions(t *testing.T) {
	chromium := labtest.Tool(t, "chromium")
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	if err := d.Deps.Store.CreateUser(context.Background(), "teacher", "teach-pw", true); err != nil {
		t.Fatal(err)
	}
	base := "http://" + d.Addr(t, "http", "tcp")

	ctx, cancel := newBrowser(t, chromium)
	defer cancel()
	// A watchdog rather than a deadline on the first Run, whose context
	// owns the browser.
	watchdog := time.AfterFunc(45*time.Second, cancel)
	defer watchdog.Stop()
	shot := func(name string) {
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return
		}
		dir := os.Getenv("LABD_ARTIFACTS")
		if dir == "" {
			dir = t.TempDir()
		}
		p := filepath.Join(dir, "dashboard-"+name+".png")
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return
		}
		t.Logf("screenshot: %s", p)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			shot("failed")
			t.Fatalf("%s: %v", what, err)
		}
	}

	step("log in through the form",
		chromedp.Navigate(base+"/labd/sessions"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "teacher"),
		chromedp.SendKeys(chromedp.ID("password"), "teach-pw"),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("sessions")),
		// The event stream is connected (EventSource onopen).
		chromedp.WaitVisible(chromedp.CSS("body.connected")),
	)
	// A marker that a reload would lose.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.labdMarker = 42")); err != nil {
		t.Fatal(err)
	}

	local, proto := smtpSession(t, d)
	var id uint64
	for _, in := range d.Deps.Sessions.List() {
		if in.Remote == local {
			id = in.ID
		}
	}
	if id == 0 {
		t.Fatalf("no %s session from %s in the registry", proto, local)
	}
	row := "#s-" + strconv.FormatUint(id, 10)
	step("the new session appears live", chromedp.WaitVisible(chromedp.CSS(row)))
	rowText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rowText, proto) || !strings.Contains(rowText, local) {
		t.Errorf("row %s reads %q, want %s and %s", row, rowText, proto, local)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.labdMarker || 0"))
	if err != nil || marker != 42 {
		t.Errorf("the page reloaded (marker %d, %v): the row must come from the event stream", marker, err)
	}
	shot("sessions")

	step("open the transcript",
		chromedp.Click(chromedp.CSS(row+" a")),
		chromedp.WaitVisible(chromedp.ID("transcript")),
	)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("transcript")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "MAIL FROM:<x@example.org>") {
		t.Errorf("transcript lacks the typed MAIL FROM line:\n%s", text)
	}
	shot("transcript")

	step("open the ladder diagram",
		chromedp.Click(chromedp.ID("flow-link")),
		chromedp.WaitVisible(chromedp.CSS("#flow svg")),
	)
	arrows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#flow svg g.arrow.cmd").length`))
	if err != nil || arrows < 3 { // EHLO, MAIL FROM, QUIT
		t.Errorf("ladder diagram shows %d command arrows (%v), want the 3 SMTP commands", arrows, err)
	}
	shot("flow")
	ftpID := ftpLogin(t, d)
	step("open the ladder diagram of an FTP login",
		chromedp.Navigate(base+"/labd/sessions/"+strconv.FormatUint(ftpID, 10)+"/flow"),
		chromedp.WaitVisible(chromedp.CSS("#flow svg")),
	)
	flowText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#flow")))
	if err != nil || !strings.Contains(flowText, "PASS ********") || strings.Contains(flowText, "PASS alice") {
		t.Errorf("FTP ladder diagram does not mask the password (%v):\n%s", err, flowText)
	}

	// A transcript follows a session while it runs.
	c, first, next := liveSession(t, d)
	fmt.Fprint(c, first)
	live := sessionOf(t, d, c.LocalAddr().String())
	step("open the transcript of a live session",
		chromedp.Navigate(base+"/labd/sessions/"+strconv.FormatUint(live, 10)),
		chromedp.WaitVisible(chromedp.ID("transcript")),
	)
	fmt.Fprint(c, next)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("transcript").textContent.includes("MAIL FROM:<live@example.org>")`))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			shot("failed")
			t.Fatal("the open transcript did not show the line typed after the page loaded within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	shot("live-transcript")
	c.Close()

	// The overview's counts follow the event feed.
	step("open the overview",
		chromedp.Navigate(base+"/labd/"),
		chromedp.WaitVisible(chromedp.CSS("#count-smtp .today")),
		chromedp.WaitVisible(chromedp.CSS("body.connected")),
	)
	before, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#count-smtp .today")))
	if err != nil {
		t.Fatal(err)
	}
	smtpSession(t, d)
	want := strconv.Itoa(atoi(t, before) + 1)
	deadline = time.Now().Add(10 * time.Second)
	for {
		now, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#count-smtp .today")))
		if err != nil {
			t.Fatal(err)
		}
		if now == want {
			break
		}
		if time.Now().After(deadline) {
			shot("failed")
			t.Fatalf("overview shows %s SMTP sessions today, want %s without a reload", now, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	shot("overview")
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a count: %q", s)
	}
	return n
}

// liveSession opens an SMTP session that stays open and returns the conn,
// a first line to send, and a later line with a MAIL FROM.
func liveSession(t *testing.T, d *labtest.Daemon) (net.Conn, string, string) {
	c := labtest.Dial(t, d.Addr(t, "smtp", "tcp"))
	return c, "EHLO live\r\n", "MAIL FROM:<live@example.org>\r\n"
}

// ftpLogin logs alice in over raw FTP, as with nc, and returns the session.
func ftpLogin(t *testing.T, d *labtest.Daemon) uint64 {
	t.Helper()
	c := labtest.Dial(t, d.Addr(t, "ftp", "tcp"))
	br := bufio.NewReader(c)
	for _, cmd := range []string{"", "USER alice\r\n", "PASS alice\r\n", "QUIT\r\n"} {
		fmt.Fprint(c, cmd)
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("FTP after %q: %v", cmd, err)
		}
	}
	c.Close()
	waitClosed(t, d, c.LocalAddr().String())
	return sessionOf(t, d, c.LocalAddr().String())
}

func sessionOf(t *testing.T, d *labtest.Daemon, remote string) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, in := range d.Deps.Sessions.List() {
			if in.Remote == remote && in.BytesIn > 0 {
				return in.ID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no session from %s", remote)
	return 0
}

// smtpSession makes a raw SMTP session (EHLO, MAIL FROM, QUIT) as a
// student would with nc, and returns the client address and the protocol.
func smtpSession(t *testing.T, d *labtest.Daemon) (string, string) {
	t.Helper()
	var addr string
	for _, ep := range d.Endpoints {
		if ep.Service == "smtp" && ep.Network == "tcp" {
			addr = ep.Addr
		}
	}
	if addr == "" {
		t.Fatal("no smtp endpoint: services/smtp is not registered")
	}
	c := labtest.Dial(t, addr)
	br := bufio.NewReader(c)
	expect := func(code string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("SMTP: waiting for %s: %v", code, err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("SMTP: got %q, want %s", line, code)
			}
			if len(line) < 4 || line[3] == ' ' {
				return
			}
		}
	}
	expect("220")
	fmt.Fprint(c, "EHLO browser-test\r\n")
	expect("250")
	fmt.Fprint(c, "MAIL FROM:<x@example.org>\r\n")
	expect("250")
	fmt.Fprint(c, "QUIT\r\n")
	expect("221")
	c.Close()
	waitClosed(t, d, c.LocalAddr().String())
	return c.LocalAddr().String(), "smtp"
}

func waitClosed(t *testing.T, d *labtest.Daemon, remote string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, in := range d.Deps.Sessions.List() {
			if in.Remote == remote && !in.Open {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the session of %s is still open 15 s after the client quit and closed", remote)
}

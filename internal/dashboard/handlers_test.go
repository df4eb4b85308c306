package dashboard_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"labd/config"
	"labd/internal/authguard"
	"labd/internal/dashboard"
	"labd/internal/labtest"
	"labd/internal/service"
	"labd/internal/sessions"
	httpsvc "labd/services/http"
)

type env struct {
	base, tlsBase string
	httpAddr      string
	deps          service.Deps
}

func start(t *testing.T) env { return startWith(t, nil) }

// startWith starts the HTTP service and dashboard with edit applied to the
// config (nil: the lab defaults).
func startWith(t *testing.T, edit func(*config.Config)) env {
	t.Helper()
	cfg := labtest.Config(t)
	if edit != nil {
		edit(cfg)
	}
	return startDeps(t, labtest.Deps(t, cfg))
}

// startDeps starts the HTTP service and dashboard on d, with a teacher.
func startDeps(t *testing.T, d service.Deps) env {
	t.Helper()
	if err := d.Store.CreateUser(context.Background(), "teacher", "teach-pw", true); err != nil {
		t.Fatal(err)
	}
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	d.Endpoints.Add(eps...)
	a := labtest.Addr(t, eps, "http", "tcp")
	return env{"http://" + a, "https://" + labtest.Addr(t, eps, "https", "tcp"), a, d}
}

type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.base, c: &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		// Redirects are checked by the tests, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) { return c.do("GET", path, nil) }

func (c *client) login(user, pass string) *http.Response {
	c.t.Helper()
	resp, _ := c.do("POST", "/labd/login", url.Values{"user": {user}, "password": {pass}, "next": {"/labd/sessions"}})
	return resp
}

func (c *client) admin() *client {
	c.t.Helper()
	if r := c.login("teacher", "teach-pw"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/labd/sessions" {
		c.t.Fatalf("admin login: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) csrf() string {
	c.t.Helper()
	_, body := c.get("/labd/users")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatal("no csrf token on the users page")
	}
	return m[1]
}

func mustStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.300s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

func TestAuthRequired(t *testing.T) {
	e := start(t)
	c := e.client(t)
	for _, p := range []string{"/labd/", "/labd/sessions", "/labd/sessions/1", "/labd/sessions/1/text", "/labd/mail", "/labd/mail?user=alice", "/labd/files", "/labd/files?user=alice", "/labd/dns", "/labd/users"} {
		resp, _ := c.get(p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/labd/login?next=") {
			t.Errorf("GET %s without login: %d %q, want 303 to the login page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/labd/api/sessions", "/labd/api/sessions/1", "/labd/api/summary", "/labd/api/events"} {
		resp, _ := c.get(p)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without login: %d, want 401", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/labd/users", "/labd/users/password", "/labd/users/import", "/labd/logout"} {
		resp, _ := c.do("POST", p, url.Values{"name": {"mallory"}, "password": {"x"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without login: %d, want 401", p, resp.StatusCode)
		}
	}
	if _, err := e.deps.Store.User(context.Background(), "mallory"); err == nil {
		t.Error("an unauthenticated POST created a user")
	}
	// A forged cookie is no session.
	u, _ := url.Parse(e.base + "/labd/")
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: "labd_session", Value: "forged", Path: "/labd/"}})
	if resp, _ := c.get("/labd/api/sessions"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d, want 401", resp.StatusCode)
	}
	// The class board is public.
	resp, body := c.get("/labd/board")
	mustStatus(t, resp, body, 200)
	resp, body = c.get("/labd/api/board")
	mustStatus(t, resp, body, 200)
}

func TestLogin(t *testing.T) {
	e := start(t)
	t.Run("non-admin refused", func(t *testing.T) {
		c := e.client(t)
		resp, body := c.do("POST", "/labd/login", url.Values{"user": {"alice"}, "password": {"alice"}})
		mustStatus(t, resp, body, http.StatusForbidden)
		if !strings.Contains(body, "not an administrator") || !strings.Contains(body, "labd user add teacher --admin") {
			t.Errorf("refusal does not explain: %.500s", body)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("refused login set cookies %v", resp.Cookies())
		}
		if resp, _ := c.get("/labd/api/sessions"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("alice reached the API: %d", resp.StatusCode)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c := e.client(t)
		resp, body := c.do("POST", "/labd/login", url.Values{"user": {"teacher"}, "password": {"nope"}})
		mustStatus(t, resp, body, http.StatusUnauthorized)
	})
	t.Run("admin, cookie flags, pages, logout", func(t *testing.T) {
		c := e.client(t)
		resp := c.login("teacher", "teach-pw")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		var ck *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "labd_session" {
				ck = k
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || len(ck.Value) < 32 {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, random", ck)
		}
		for _, p := range []string{"/labd/", "/labd/sessions", "/labd/mail", "/labd/mail?user=alice", "/labd/mail?user=alice&box=INBOX", "/labd/files", "/labd/files?user=alice", "/labd/files?area=pub", "/labd/dns", "/labd/users"} {
			resp, body := c.get(p)
			mustStatus(t, resp, body, 200)
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("%s: CSP %q", p, csp)
			}
		}
		_, body := c.get("/labd/")
		if !strings.Contains(body, e.httpAddr) {
			t.Errorf("overview does not list the HTTP endpoint %s", e.httpAddr)
		}
		// Open redirect: next must stay under /labd/.
		resp, _ = c.do("POST", "/labd/login", url.Values{"user": {"teacher"}, "password": {"teach-pw"}, "next": {"//evil.example/"}})
		if loc := resp.Header.Get("Location"); loc != "/labd/" {
			t.Errorf("next=//evil.example/ redirected to %q", loc)
		}
		// Logout needs the CSRF token, then ends the session.
		resp, body = c.do("POST", "/labd/logout", url.Values{})
		mustStatus(t, resp, body, http.StatusForbidden)
		resp, _ = c.do("POST", "/labd/logout", url.Values{"csrf": {c.csrf()}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if resp, _ := c.get("/labd/api/sessions"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("after logout: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("a demoted admin loses access at once", func(t *testing.T) {
		if err := e.deps.Store.CreateUser(context.Background(), "ta", "ta-pw", true); err != nil {
			t.Fatal(err)
		}
		c := e.client(t)
		if r := c.login("ta", "ta-pw"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", r.StatusCode)
		}
		if resp, body := c.get("/labd/api/sessions"); resp.StatusCode != 200 {
			t.Fatalf("admin: %d %s", resp.StatusCode, body)
		}
		if err := e.deps.Store.SetAdmin(context.Background(), "ta", false); err != nil {
			t.Fatal(err)
		}
		if resp, _ := c.get("/labd/api/sessions"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("demoted: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("over HTTPS the cookie is Secure", func(t *testing.T) {
		c := e.client(t)
		c.base = e.tlsBase
		c.c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.deps.TLS.CertPool()}, ForceAttemptHTTP2: true}
		resp := c.login("teacher", "teach-pw")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login over HTTPS: %d", resp.StatusCode)
		}
		if ck := resp.Cookies(); len(ck) != 1 || !ck[0].Secure {
			t.Fatalf("cookie over HTTPS: %+v", ck)
		}
		resp, body := c.get("/labd/sessions")
		mustStatus(t, resp, body, 200)
		// The event stream works over HTTP/2 too.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/labd/api/events", nil)
		stream, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Body.Close()
		line, err := bufio.NewReader(stream.Body).ReadString('\n')
		if stream.ProtoMajor != 2 || line != "retry: 2000\n" {
			t.Errorf("event stream over HTTPS: %s, first line %q %v", stream.Proto, line, err)
		}
	})
}

func TestHostileTranscriptIsEscaped(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	s := e.deps.Sessions.Open("smtp", "tcp", "127.0.0.1:25", "127.0.0.1:40000")
	s.Record(sessions.FromServer, []byte("220 labd ESMTP\r\n"), false)
	s.Record(sessions.FromClient, []byte("HELO <script>alert(1)</script>\r\n"), false)
	s.Record(sessions.FromClient, []byte("MAIL FROM:<\"><img src=x onerror=alert(1)>>\r\n"), false)
	s.SetUser(`"><img src=x onerror=alert(2)>`)
	s.SetAttr("x</td><script>", "<b>bold</b>")
	s.Close("closed")
	path := "/labd/sessions/" + itoa(s.ID())
	resp, body := c.get(path)
	mustStatus(t, resp, body, 200)
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>bold"} {
		if strings.Contains(body, bad) {
			t.Errorf("transcript page contains unescaped %q", bad)
		}
	}
	for _, good := range []string{"HELO &lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(body, good) {
			t.Errorf("transcript page lacks the escaped line %q", good)
		}
	}
	// Sessions table, JSON feed and download.
	_, body = c.get("/labd/sessions")
	if strings.Contains(body, "<img src=x") {
		t.Error("sessions page contains an unescaped user name")
	}
	resp, body = c.get("/labd/api/sessions/" + itoa(s.ID()))
	mustStatus(t, resp, body, 200)
	if strings.Contains(body, "<script>") || !strings.Contains(body, `\u003cscript\u003e`) {
		t.Errorf("JSON transcript not escaped: %.400s", body)
	}
	resp, body = c.get(path + "/text")
	mustStatus(t, resp, body, 200)
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".txt") {
		t.Errorf("download Content-Disposition %q", cd)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("download Content-Type %q", ct)
	}
	if !strings.Contains(body, "C HELO <script>alert(1)</script>") || !strings.Contains(body, "[2xx success]") {
		t.Errorf("download text: %s", body)
	}
}

func TestCSRF(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	tok := c.csrf()
	for name, v := range map[string]url.Values{
		"no token":    {"name": {"carol"}, "password": {"carol-pw"}},
		"wrong token": {"name": {"carol"}, "password": {"carol-pw"}, "csrf": {tok + "x"}},
	} {
		resp, body := c.do("POST", "/labd/users", v)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
		_ = body
	}
	// Another admin's token is not this session's.
	other := e.client(t).admin()
	if resp, _ := c.do("POST", "/labd/users", url.Values{"name": {"carol"}, "csrf": {other.csrf()}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token of another session: %d, want 403", resp.StatusCode)
	}
	if _, err := e.deps.Store.User(context.Background(), "carol"); err == nil {
		t.Fatal("carol created without a valid token")
	}
	resp, body := c.do("POST", "/labd/users", url.Values{"name": {"carol"}, "password": {"carol-pw"}, "admin": {"1"}, "csrf": {tok}})
	mustStatus(t, resp, body, 200)
	if !strings.Contains(body, "carol-pw") {
		t.Error("the sheet does not show the new password")
	}
	u, err := e.deps.Store.Authenticate(context.Background(), "test", "carol", "carol-pw")
	if err != nil || !u.Admin {
		t.Fatalf("carol: %+v %v", u, err)
	}
	if fi, err := os.Stat(filepath.Join(e.deps.Layout.Home("carol"), "public_html")); err != nil || !fi.IsDir() {
		t.Errorf("carol has no home: %v", err)
	}
	// Reset a password with a generated one.
	resp, body = c.do("POST", "/labd/users/password", url.Values{"name": {"bob"}, "csrf": {tok}})
	mustStatus(t, resp, body, 200)
	m := regexp.MustCompile(`class="cred-pass mono">([^<]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no password on the sheet: %.600s", body)
	}
	if _, err := e.deps.Store.Authenticate(context.Background(), "test", "bob", m[1]); err != nil {
		t.Errorf("bob's generated password %q does not work: %v", m[1], err)
	}
}

func TestRosterImport(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	tok := c.csrf()
	// A bad roster creates nobody and says why.
	resp, body := c.do("POST", "/labd/users/import", url.Values{"csrf": {tok}, "roster": {"name,password\ndave,pw1\nalice,x\n9bad\n"}})
	mustStatus(t, resp, body, http.StatusBadRequest)
	if !strings.Contains(body, "user alice already exists") || !strings.Contains(body, "bad CSV line 4") {
		t.Errorf("problems not listed: %.800s", body)
	}
	if _, err := e.deps.Store.User(context.Background(), "dave"); err == nil {
		t.Fatal("dave created from a roster with problems")
	}
	resp, body = c.do("POST", "/labd/users/import", url.Values{"csrf": {tok}, "roster": {"name,password,admin\ndave,dave-pw\nErin\nfrank,,yes\n"}})
	mustStatus(t, resp, body, 200)
	passes := regexp.MustCompile(`class="cred-user">([^<]+)<.*?class="cred-pass mono">([^<]+)<`).FindAllStringSubmatch(strings.ReplaceAll(body, "\n", " "), -1)
	if len(passes) != 3 {
		t.Fatalf("sheet shows %d credentials, want 3: %.1000s", len(passes), body)
	}
	for _, p := range passes {
		u, err := e.deps.Store.Authenticate(context.Background(), "test", p[1], p[2])
		if err != nil {
			t.Errorf("%s/%s from the sheet does not log in: %v", p[1], p[2], err)
		}
		if u.Admin != (p[1] == "frank") {
			t.Errorf("%s admin=%v", p[1], u.Admin)
		}
		if _, err := os.Stat(e.deps.Layout.Home(p[1])); err != nil {
			t.Errorf("no home for %s", p[1])
		}
	}
	if passes[0][2] != "dave-pw" {
		t.Errorf("dave's password on the sheet: %q", passes[0][2])
	}
}

func TestJSONAndEventFeeds(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	s := e.deps.Sessions.Open("pop3", "tcp", "127.0.0.1:110", "127.0.0.1:41000")
	s.SetUser("alice")
	resp, body := c.get("/labd/api/sessions?proto=pop3")
	mustStatus(t, resp, body, 200)
	if !strings.Contains(body, `"proto": "pop3"`) || !strings.Contains(body, `"user": "alice"`) || !strings.Contains(body, `"remote": "127.0.0.1:41000"`) {
		t.Errorf("JSON feed: %s", body)
	}
	_, body = c.get("/labd/api/sessions?proto=pop3&user=bob")
	if strings.Contains(body, "41000") {
		t.Error("user filter ignored")
	}
	s.Close("ok")

	// The dashboard's own connections are left out unless asked for.
	_, body = c.get("/labd/api/sessions?proto=http")
	if strings.Contains(body, `"dashboard": "1"`) {
		t.Errorf("the dashboard's own connection is listed: %s", body)
	}
	_, body = c.get("/labd/api/sessions?proto=http&all=1")
	if !strings.Contains(body, `"dashboard": "1"`) {
		t.Errorf("all=1 does not list the dashboard's own connection: %s", body)
	}

	// The SSE feed announces a new TCP connection to the HTTP service.
	req, _ := http.NewRequest("GET", e.base+"/labd/api/events?proto=http", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	stream, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	br := bufio.NewReader(stream.Body)
	// Wait for the stream's preamble, so that the subscription exists.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\n" {
			break
		}
	}
	conn := labtest.Dial(t, e.httpAddr)
	want := `"remote":"` + conn.LocalAddr().String() + `"`
	var event string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no open event for %s: %v", conn.LocalAddr(), err)
		}
		if strings.HasPrefix(line, "event: ") {
			event = strings.TrimSpace(line[7:])
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, want) {
			if event != "open" {
				t.Fatalf("first event of the new connection is %q, want open", event)
			}
			if !strings.Contains(line, `"proto":"http"`) {
				t.Errorf("open event: %s", line)
			}
			break
		}
	}
}

func TestFilesRefuseEscapes(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	home := e.deps.Layout.Home("alice")
	if err := os.WriteFile(filepath.Join(home, "notes.txt"), []byte("<h1>hello</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(home, "etc")); err != nil {
		t.Fatal(err)
	}
	resp, body := c.get("/labd/files?user=alice")
	mustStatus(t, resp, body, 200)
	if !strings.Contains(body, "notes.txt") || !strings.Contains(body, "public_html/") {
		t.Errorf("home listing: %.1000s", body)
	}
	resp, body = c.get("/labd/files?user=alice&path=notes.txt")
	mustStatus(t, resp, body, 200)
	if body != "<h1>hello</h1>" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("file download: %q %q", body, resp.Header.Get("Content-Disposition"))
	}
	for _, p := range []string{
		"/labd/files?user=alice&path=../bob",
		"/labd/files?user=alice&path=..",
		"/labd/files?user=alice&path=public_html/../../bob",
		"/labd/files?area=pub&path=../home/alice",
		"/labd/files?user=../../etc",
		"/labd/files?user=alice&path=etc",
		"/labd/files?user=alice&path=etc/passwd",
	} {
		resp, body := c.get(p)
		if resp.StatusCode < 400 || strings.Contains(body, "root:") {
			t.Errorf("GET %s: %d, want refusal: %.200s", p, resp.StatusCode, body)
		}
	}
}

func TestMailMIMETree(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	msg := "From: Bob <bob@lab.test>\r\nTo: alice@lab.test\r\nSubject: =?utf-8?q?Caf=C3=A9_<b>report</b>?=\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me\r\n" +
		"--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"tp.pdf\"\r\n\r\nJVBERi0xLjQK\r\n" +
		"--XX--\r\n"
	if err := e.deps.Store.Deliver(context.Background(), []string{"alice"}, []byte(msg), time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, body := c.get("/labd/mail?user=alice")
	mustStatus(t, resp, body, 200)
	if !regexp.MustCompile(`(?s)box=INBOX">INBOX</a></td><td></td><td class="num">1</td>`).MatchString(body) {
		t.Errorf("INBOX count: %.1500s", body)
	}
	_, body = c.get("/labd/mail?user=alice&box=INBOX")
	if !strings.Contains(body, "Café &lt;b&gt;report&lt;/b&gt;") || !strings.Contains(body, "Bob &lt;bob@lab.test&gt;") {
		t.Errorf("message list: %.2000s", body)
	}
	_, body = c.get("/labd/mail?user=alice&box=INBOX&uid=1")
	for _, want := range []string{"multipart/mixed", "boundary=XX", "text/plain", "quoted-printable", "application/pdf", "base64", "attachment (tp.pdf)", "Café crème", `<td class="mono">2</td><td class="ctype depth-1">application/pdf</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("message page lacks %q", want)
		}
	}
	resp, body = c.get("/labd/mail?user=alice&box=INBOX&uid=1&raw=1")
	if body != msg || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("raw source differs: %q", body)
	}
}

func TestClassBoard(t *testing.T) {
	e := start(t)
	s := e.deps.Sessions.Open("ftp", "tcp", "127.0.0.1:21", "127.0.0.1:42000")
	s.Record(sessions.FromClient, []byte("PASS hunter2\r\n"), false)
	s.SetAttr("file", "secret-plans.txt")
	c := e.client(t)
	_, body := c.get("/labd/board")
	if !strings.Contains(body, "127.0.0.1:42000") || !strings.Contains(body, `id="tile-ftp"`) {
		t.Errorf("board: %.1500s", body)
	}
	_, js := c.get("/labd/api/board")
	for _, leak := range []string{"hunter2", "secret-plans", "PASS"} {
		if strings.Contains(body, leak) || strings.Contains(js, leak) {
			t.Errorf("class board leaks %q", leak)
		}
	}
	if !strings.Contains(js, `"proto": "ftp"`) {
		t.Errorf("board JSON: %s", js)
	}
	if resp, _ := c.get("/labd/sessions/" + itoa(s.ID())); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("transcript reachable without login: %d", resp.StatusCode)
	}

	// Switched off in the config.
	cfg := labtest.Config(t)
	off := false
	cfg.Dashboard.ClassBoard = &off
	d := labtest.Deps(t, cfg)
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	c.base = "http://" + labtest.Addr(t, eps, "http", "tcp")
	if resp, _ := c.get("/labd/board"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("disabled board: %d, want 404", resp.StatusCode)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestLoginBurstThrottled: 150 concurrent wrong logins from one address
// check only a handful of passwords, and the teacher, from another address,
// still logs in at once: throttling, not a lockout.
func TestLoginBurstThrottled(t *testing.T) {
	cfg := labtest.Config(t)
	deps := labtest.Deps(t, cfg)
	deps.Guard = authguard.New(deps.Store, authguard.Options{MaxWait: 4 * time.Second}, labtest.Logger(t))
	if err := deps.Store.CreateUser(context.Background(), "teacher", "teach-pw", true); err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	d.FailDelay = 0
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	t.Cleanup(d.Close)
	var wg sync.WaitGroup
	codes := make(chan int, 150)
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env{base: srv.URL}.client(t)
			resp, err := c.c.PostForm(srv.URL+"/labd/login", url.Values{"user": {"teacher"}, "password": {"guess" + strconv.Itoa(i)}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	checked := deps.Guard.Checks("teacher")
	t.Logf("150 concurrent logins: %d passwords checked, statuses %v", checked, count)
	if checked > 7 {
		t.Errorf("%d passwords checked, want at most 7", checked)
	}
	if count[http.StatusOK]+count[http.StatusSeeOther] != 0 {
		t.Errorf("a wrong password was accepted: %v", count)
	}
	// The teacher, from another address of the same host.
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	c := env{base: srv.URL}.client(t)
	c.c.Transport = tr
	t0 := time.Now()
	if r := c.login("teacher", "teach-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the teacher from another address: %d", r.StatusCode)
	}
	if w := time.Since(t0); w > 5*time.Second {
		t.Errorf("the teacher waited %v", w)
	}
}

func TestDisabled(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("server:\n  listen: [127.0.0.1]\n  data_dir: "+t.TempDir()+"\nhttp:\n  listen: [\"127.0.0.1:0\"]\n  tls_listen: [\"127.0.0.1:0\"]\ndashboard:\n  enabled: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dashboard.On() || !cfg.Dashboard.Board() || !cfg.Dashboard.Unmask() {
		t.Fatalf("parsed dashboard section: %+v", cfg.Dashboard)
	}
	d := labtest.Deps(t, cfg)
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	c := env{base: "http://" + labtest.Addr(t, eps, "http", "tcp")}.client(t)
	for _, p := range []string{"/labd/", "/labd/login", "/labd/board"} {
		if resp, _ := c.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with the dashboard disabled: %d, want 404", p, resp.StatusCode)
		}
	}
}

// An open event stream must not hold the HTTP service's shutdown for the
// whole grace period.
func TestShutdownEndsEventStreams(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.Deps(t, cfg)
	if err := d.Store.CreateUser(context.Background(), "teacher", "teach-pw", true); err != nil {
		t.Fatal(err)
	}
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := svc.Bind()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx) }()
	c := env{base: "http://" + labtest.Addr(t, eps, "http", "tcp")}.client(t).admin()
	stream, err := c.c.Get(c.base + "/labd/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	br := bufio.NewReader(stream.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "retry: 2000\n" {
		t.Fatalf("stream preamble %q %v", line, err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	start := time.Now()
	if err := svc.Shutdown(sctx); err != nil {
		t.Errorf("shutdown with an open event stream: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %v with an event stream open", took)
	}
	if _, err := io.ReadAll(br); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream ended with %v", err)
	}
}

package http_test

import (
	"bufio"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
	"labd/internal/service"
	httpsvc "labd/services/http"
)

type env struct {
	plain, secure string
	deps          service.Deps
}

func start(t *testing.T) env {
	t.Helper()
	return startWith(t, labtest.Deps(t, labtest.Config(t)))
}

func startWith(t *testing.T, d service.Deps) env {
	t.Helper()
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	d.Endpoints.Add(eps...)
	return env{labtest.Addr(t, eps, "http", "tcp"), labtest.Addr(t, eps, "https", "tcp"), d}
}

// raw sends bytes as a student would with nc and returns everything the
// server answered until it closed the connection.
func raw(t *testing.T, addr, req string) string {
	t.Helper()
	c := labtest.Dial(t, addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestRawRequestsLikeNetcat(t *testing.T) {
	e := start(t)
	t.Run("HTTP/1.1 with bare LF", func(t *testing.T) {
		resp := raw(t, e.plain, "GET /echo HTTP/1.1\nHost: lab.test\nX-Zeta: 1\nX-Alpha: 2\nConnection: close\n\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n") {
			t.Fatalf("status line: %q", firstLine(resp))
		}
		for _, h := range []string{"\r\nServer: labd/", "\r\nDate: ", "\r\nContent-Length: ", "\r\nContent-Type: text/plain"} {
			if !strings.Contains(resp, h) {
				t.Errorf("missing %q in %q", h, resp)
			}
		}
		// The echo keeps the client's header order and shows its line ends.
		want := "GET /echo HTTP/1.1\\n\nHost: lab.test\\n\nX-Zeta: 1\\n\nX-Alpha: 2\\n\n"
		if !strings.Contains(resp, want) {
			t.Errorf("echo does not show the request byte for byte; want %q in\n%s", want, resp)
		}
		if !strings.Contains(resp, "Client address: 127.0.0.1:") {
			t.Errorf("echo lacks the client address and port:\n%s", resp)
		}
	})
	t.Run("HTTP/1.0 without Host", func(t *testing.T) {
		resp := raw(t, e.plain, "GET /index.html HTTP/1.0\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.0 200 OK\r\n") {
			t.Fatalf("status line: %q", firstLine(resp))
		}
		if !strings.Contains(resp, "lab host") {
			t.Errorf("index page missing: %q", resp)
		}
	})
	t.Run("HTTP/1.0 keep-alive serves two requests on one connection", func(t *testing.T) {
		resp := raw(t, e.plain, "GET /status/204 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /status/404 HTTP/1.0\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.0 204 No Content\r\n") || !strings.Contains(resp, "HTTP/1.0 404 Not Found\r\n") {
			t.Fatalf("want 204 then 404 on one connection, got %q", resp)
		}
	})
	t.Run("malformed request gets 400", func(t *testing.T) {
		resp := raw(t, e.plain, "HELLO THERE\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 400 Bad Request") {
			t.Fatalf("want 400, got %q", firstLine(resp))
		}
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestStatusDemosAndAuth(t *testing.T) {
	e := start(t)
	c := &http.Client{CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	cases := []struct {
		path, user, pass string
		code             int
		header, value    string
		body             string
	}{
		{path: "/status/404", code: 404, body: "404 Not Found"},
		{path: "/status/403", code: 403, body: "4xx client error"},
		{path: "/status/500", code: 500, body: "5xx server error"},
		{path: "/status/999", code: 400},
		{path: "/status/401", code: 401, header: "WWW-Authenticate", value: `Basic realm="labd status demo"`},
		{path: "/redirect", code: 302, header: "Location", value: "/echo"},
		{path: "/moved", code: 301, header: "Location", value: "/"},
		{path: "/auth", code: 401, header: "WWW-Authenticate", value: `Basic realm="labd", charset="UTF-8"`},
		{path: "/auth", user: "alice", pass: "wrong", code: 401},
		{path: "/auth", user: "alice", pass: "alice", code: 200, body: "Hello alice"},
		{path: "/nope", code: 404},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", "http://"+e.plain+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s (%s): status %d, want %d", tc.path, tc.user, resp.StatusCode, tc.code)
		}
		if tc.header != "" && resp.Header.Get(tc.header) != tc.value {
			t.Errorf("%s: %s = %q, want %q", tc.path, tc.header, resp.Header.Get(tc.header), tc.value)
		}
		if tc.body != "" && !strings.Contains(string(b), tc.body) {
			t.Errorf("%s: body lacks %q: %s", tc.path, tc.body, b)
		}
	}
	// The Basic-auth session is attributed to the user in the registry.
	var found bool
	for _, s := range e.deps.Sessions.List() {
		if s.User == "alice" && s.Proto == "http" {
			found = true
		}
	}
	if !found {
		t.Error("no http session with user alice in the registry")
	}
}

func TestUserPages(t *testing.T) {
	e := start(t)
	pub := filepath.Join(e.deps.Layout.Home("alice"), "public_html")
	if err := os.WriteFile(filepath.Join(pub, "hello.txt"), []byte("hi from alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("outside"), 0o644)
	if err := os.Symlink(secret, filepath.Join(pub, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	get := func(p string) (int, string) {
		resp := raw(t, e.plain, "GET "+p+" HTTP/1.0\r\n\r\n")
		code := firstLine(resp)
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		return len(code), code + "\n" + body
	}
	if _, r := get("/~alice/hello.txt"); !strings.Contains(r, "200 OK") || !strings.Contains(r, "hi from alice") {
		t.Errorf("/~alice/hello.txt: %s", r)
	}
	if _, r := get("/~alice/"); !strings.Contains(r, "Page of alice") {
		t.Errorf("/~alice/ index: %s", r)
	}
	if _, r := get("/~alice"); !strings.Contains(r, "301") {
		t.Errorf("/~alice should redirect to /~alice/: %s", r)
	}
	for _, p := range []string{"/~alice/escape.txt", "/~alice/../bob/public_html/index.html", "/~alice/%2e%2e/%2e%2e/labd.db", "/~nobody/"} {
		if _, r := get(p); strings.Contains(r, "200 OK") || strings.Contains(r, "outside") {
			t.Errorf("%s escaped public_html: %s", p, r)
		}
	}
}

func TestHTTPSWithLabCAAndHTTP2(t *testing.T) {
	e := start(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.deps.TLS.CertPool(), ServerName: "localhost"}, ForceAttemptHTTP2: true}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + e.secure + "/echo")
	if err != nil {
		t.Fatalf("HTTPS with the lab CA: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("want HTTP/2 over TLS, got %s", resp.Proto)
	}
	if !strings.Contains(string(b), "over TLS") {
		t.Errorf("echo over TLS: %s", b)
	}
	// The CA offered for download is the one that verified the server.
	resp, err = c.Get("https://" + e.secure + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(ca) != string(e.deps.TLS.CAPEM) || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Errorf("/ca.pem is not the lab CA: %q", ca)
	}
	// The transcript shows where TLS began.
	var tlsSeen bool
	for _, s := range e.deps.Sessions.List() {
		if s.Proto == "https" && s.TLS {
			tlsSeen = true
		}
	}
	if !tlsSeen {
		t.Error("no https session marked TLS in the registry")
	}
}

func TestTranscriptRecordsTheRequest(t *testing.T) {
	e := start(t)
	c := labtest.Dial(t, e.plain)
	io.WriteString(c, "GET /status/418 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if !strings.Contains(line, "418") {
		t.Fatalf("got %q", line)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range e.deps.Sessions.List() {
			if s.Proto != "http" || s.Open {
				continue
			}
			sess, _ := e.deps.Sessions.Get(s.ID)
			var in, out string
			for _, en := range sess.Transcript() {
				if en.Dir == 0 {
					in += string(en.Data)
				} else {
					out += string(en.Data)
				}
			}
			if strings.Contains(in, "GET /status/418 HTTP/1.1") && strings.Contains(out, "HTTP/1.1 418 I'm a teapot") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("transcript of the closed session lacks the request or the response")
}

// Conditional GET (RFC 9110 8.8.3, 13.1.2), chunked request bodies on the
// echo page, and HTTP/2 with prior knowledge on the plain port.
func TestConformance(t *testing.T) {
	e := start(t)
	pub := filepath.Join(e.deps.Layout.Home("alice"), "public_html")
	if err := os.WriteFile(filepath.Join(pub, "tag.txt"), []byte("etag me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp := raw(t, e.plain, "GET /~alice/tag.txt HTTP/1.1\r\nHost: lab.test\r\nConnection: close\r\n\r\n")
	i := strings.Index(resp, "\r\nEtag: ")
	if i < 0 {
		t.Fatalf("no ETag: %q", resp)
	}
	etag, _, _ := strings.Cut(resp[i+8:], "\r\n")
	resp = raw(t, e.plain, "GET /~alice/tag.txt HTTP/1.1\r\nHost: lab.test\r\nIf-None-Match: "+etag+"\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(resp, "HTTP/1.1 304 ") {
		t.Errorf("If-None-Match %s: %q", etag, firstLine(resp))
	}
	resp = raw(t, e.plain, "POST /echo HTTP/1.1\r\nHost: lab.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if !strings.Contains(resp, "(body: 11 bytes, Transfer-Encoding: chunked)") {
		t.Errorf("chunked body not reported: %q", resp)
	}
	out := labtest.RunTool(t, "curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "http://"+e.plain+"/echo")
	if strings.TrimSpace(out) != "2 200" {
		t.Errorf("curl --http2-prior-knowledge: %q", out)
	}
}

// Mail client setup fetched the way the clients do.
func TestMailAutoconfig(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.IMAP.Listen, cfg.IMAP.TLSListen = []string{"127.0.0.1:10143"}, []string{"127.0.0.1:10993"}
	cfg.POP3.Listen, cfg.POP3.TLSListen = []string{"127.0.0.1:10110"}, []string{"127.0.0.1:10995"}
	cfg.SMTP.SubmissionListen, cfg.SMTP.TLSListen = []string{"127.0.0.1:10587"}, []string{"127.0.0.1:10465"}
	d := labtest.Deps(t, cfg)
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	d.Endpoints.Add(eps...)
	base := "http://" + labtest.Addr(t, eps, "http", "tcp")
	get := func(method, path, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %s\n%s", method, path, resp.Status, b)
		}
		return string(b)
	}
	// Thunderbird: both places, the address in the query.
	for _, p := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40lab.test", "/mail/config-v1.1.xml?emailaddress=alice%40lab.test"} {
		var cc struct {
			In []struct {
				Type   string `xml:"type,attr"`
				Host   string `xml:"hostname"`
				Port   int    `xml:"port"`
				Socket string `xml:"socketType"`
			} `xml:"emailProvider>incomingServer"`
			Out []struct {
				Port   int    `xml:"port"`
				Socket string `xml:"socketType"`
			} `xml:"emailProvider>outgoingServer"`
		}
		if err := xml.Unmarshal([]byte(get("GET", p, "")), &cc); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range cc.In {
			got = append(got, fmt.Sprintf("%s %s:%d %s", s.Type, s.Host, s.Port, s.Socket))
		}
		for _, s := range cc.Out {
			got = append(got, fmt.Sprintf("smtp %d %s", s.Port, s.Socket))
		}
		want := "imap mail.lab.test:10993 SSL|imap mail.lab.test:10143 STARTTLS|pop3 mail.lab.test:10995 SSL|pop3 mail.lab.test:10110 STARTTLS|smtp 10587 STARTTLS|smtp 10465 SSL"
		if strings.Join(got, "|") != want {
			t.Errorf("%s:\n%s\nwant\n%s", p, strings.Join(got, "|"), want)
		}
	}
	// Outlook: POST with the address in the body.
	ad := get("POST", "/autodiscover/autodiscover.xml", `<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@lab.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`)
	for _, want := range []string{"<Type>IMAP</Type>", "<Port>10993</Port>", "<LoginName>alice</LoginName>", "<Port>10587</Port>"} {
		if !strings.Contains(ad, want) {
			t.Errorf("autodiscover lacks %s:\n%s", want, ad)
		}
	}
	mc := get("GET", "/mail.mobileconfig?emailaddress=alice@lab.test", "")
	if !strings.Contains(mc, "<integer>10993</integer>") || !strings.Contains(mc, "<string>alice</string>") {
		t.Errorf("mobileconfig:\n%s", mc)
	}
	// The start page: Try keeps the port, and names the mail host.
	page := get("GET", "/", "")
	if !strings.Contains(page, "curl -v http://"+strings.TrimPrefix(base, "http://")+"/echo") || !strings.Contains(page, "mail.lab.test") {
		t.Errorf("start page:\n%s", page)
	}
}

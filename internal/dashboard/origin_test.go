package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrossOriginRefused replays, with a plain HTTP client, the requests a
// browser makes for a hostile page: each carries the admin's cookie and a
// valid CSRF token, and only the browser's own evidence of where it came
// from tells them apart.
func TestCrossOriginRefused(t *testing.T) {
	e := start(t)
	c := e.client(t).admin()
	tok := c.csrf()
	create := func(name string, hdr map[string]string) int {
		t.Helper()
		form := url.Values{"name": {name}, "password": {name + "-pw-123"}, "admin": {"1"}, "csrf": {tok}}
		req, _ := http.NewRequest("POST", e.base+"/labd/users", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"sandboxed student page", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "null"}},
		{"same-site other port", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"same origin from /~alice/", map[string]string{"Sec-Fetch-Site": "same-origin", "Referer": e.base + "/~alice/evil.html"}},
		{"old browser, foreign Origin", map[string]string{"Origin": "http://evil.example"}},
		{"old browser, null Origin", map[string]string{"Origin": "null"}},
		{"old browser, Referer from /~alice/", map[string]string{"Referer": e.base + "/~alice/evil.html"}},
		{"old browser, foreign Referer", map[string]string{"Referer": "http://evil.example/labd/users"}},
	} {
		if got := create("mallory", tc.hdr); got != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, got)
		}
	}
	if _, err := e.deps.Store.User(context.Background(), "mallory"); err == nil {
		t.Fatal("a cross-origin request created mallory")
	}
	// The dashboard's own form, in a browser and outside one.
	for i, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "same-origin", "Origin": e.base, "Referer": e.base + "/labd/users"},
		{"Origin": e.base},
		{"Referer": e.base + "/labd/users"},
		nil,
	} {
		name := "dave" + string(rune('a'+i))
		if got := create(name, hdr); got != http.StatusOK {
			t.Errorf("same-origin form %v: status %d, want 200", hdr, got)
		}
	}

	// The API is refused to another site even for a GET.
	for _, site := range []string{"cross-site", "same-site"} {
		req, _ := http.NewRequest("GET", e.base+"/labd/api/sessions", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("API GET with Sec-Fetch-Site %s: %d, want 403", site, resp.StatusCode)
		}
	}
	resp, body := c.get("/labd/api/sessions")
	mustStatus(t, resp, body, 200)
	for k, want := range map[string]string{
		"Cross-Origin-Opener-Policy": "same-origin",
		"X-Content-Type-Options":     "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("dashboard %s: %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("dashboard CSP %q lacks frame-ancestors 'none'", csp)
	}
}

// TestUserContentSandboxed: everything under /~user/ is served in an
// opaque origin and never sniffed.
func TestUserContentSandboxed(t *testing.T) {
	e := start(t)
	dir := filepath.Join(e.deps.Layout.Home("alice"), "public_html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<script>alert(1)</script>"), 0o644)
	os.WriteFile(filepath.Join(dir, "pic.png"), []byte("<html><script>alert(1)</script>"), 0o644)
	c := e.client(t)
	for _, p := range []string{"/~alice/", "/~alice/pic.png", "/~alice/index.html"} {
		resp, _ := c.get(p)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.HasPrefix(csp, "sandbox") || strings.Contains(csp, "allow-same-origin") {
			t.Errorf("%s: CSP %q, want a sandbox without allow-same-origin", p, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
}

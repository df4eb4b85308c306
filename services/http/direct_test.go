package http

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDirectRoutesAgreeWithMux checks the shortcut past the ServeMux: a
// request it sends straight to http.root must be one the mux gives to
// "/" without a redirect, whatever an attacking student puts in the path.
func TestDirectRoutesAgreeWithMux(t *testing.T) {
	patterns := []string{"/echo", "/status/{code}", "/auth", "/ca.pem", "GET /mail/config-v1.1.xml",
		"GET /.well-known/autoconfig/mail/config-v1.1.xml", "/autodiscover/autodiscover.xml", "GET /mail.mobileconfig", "/labd/"}
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	d := newDirectRoutes(patterns)
	if d == nil {
		t.Fatal("no direct routes for plain patterns")
	}
	targets := []struct {
		method, target string
		direct         bool
	}{
		{"GET", "/1k.bin", true},
		{"GET", "/", true},
		{"GET", "/dir/", true},
		{"HEAD", "/dir/page.html", true},
		{"POST", "/form", true},
		{"GET", "/echo", false},
		{"GET", "/echo/x", false},
		{"GET", "/echoes", true},
		{"GET", "/labd", false},
		{"GET", "/labd/sessions", false},
		{"POST", "/mail.mobileconfig", false},
		{"GET", "/status/404", false},
		{"GET", "//", false},
		{"GET", "/a//b", false},
		{"GET", "/a/./b", false},
		{"GET", "/a/../echo", false},
		{"GET", "/a/..", false},
		{"GET", "/dir//", false},
		{"GET", "/%65cho", false},
		{"GET", "/a%2fb", false},
		{"GET", "/a%20b", true},
		{"CONNECT", "/x", false},
		{"OPTIONS", "*", false},
	}
	for _, tc := range targets {
		r := httptest.NewRequest(tc.method, "http://lab.test"+tc.target, nil)
		if tc.target == "*" {
			r.URL.Path, r.RequestURI = "*", "*"
		}
		got := d.routes(r)
		if got != tc.direct {
			t.Errorf("%s %s: direct %v, want %v", tc.method, tc.target, got, tc.direct)
		}
		if got {
			if _, pattern := mux.Handler(r); pattern != "/" {
				t.Errorf("%s %s: sent to http.root, the mux says %q", tc.method, tc.target, pattern)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: sent to http.root, the mux answers %d", tc.method, tc.target, rec.Code)
			}
		}
	}
	for _, bad := range [][]string{{"lab.test/"}, {"/{x}/y"}, {"GET lab.test/x"}} {
		if newDirectRoutes(bad) != nil {
			t.Errorf("%q: direct routes, want none (the mux decides)", bad)
		}
	}
}

// FuzzDirectRoutes: whatever the path, a request sent past the mux is one
// the mux routes to "/" and answers itself (no redirect).
func FuzzDirectRoutes(f *testing.F) {
	for _, s := range []string{"/1k.bin", "/echo", "//x", "/a/../b", "/%65cho", "/labd", "/~alice/"} {
		f.Add(s)
	}
	patterns := []string{"/echo", "/status/{code}", "GET /mail.mobileconfig", "/labd/"}
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	d := newDirectRoutes(patterns)
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.ReadRequest(bufioString("GET " + target + " HTTP/1.1\r\nHost: lab.test\r\n\r\n"))
		if err != nil || !d.routes(r) {
			return
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		if rec.Code != 299 {
			t.Fatalf("%q: sent to http.root, the mux answers %d", target, rec.Code)
		}
	})
}

func bufioString(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

package dashboard_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/pcapng"
)

// basicAuthSession makes an HTTP connection that starts unauthenticated
// and then logs in with Basic credentials, and returns its session ID.
func basicAuthSession(t *testing.T, e env, user, pass string) uint64 {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, auth := range []bool{false, true} {
		req, _ := http.NewRequest("GET", "http://"+e.httpAddr+"/auth", nil)
		if auth {
			req.SetBasicAuth(user, pass)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, in := range e.deps.Sessions.List() {
			if in.User == user && in.Proto == "http" && in.Attrs["dashboard"] == "" {
				return in.ID
			}
		}
	}
	t.Fatalf("no HTTP session of %s", user)
	return 0
}

func TestMePage(t *testing.T) {
	e := start(t)
	aliceID := basicAuthSession(t, e, "alice", "alice")
	bobID := basicAuthSession(t, e, "bob", "bob")
	dns := e.deps.Sessions.Open("dns", "udp", "127.0.0.1:53", "127.0.0.1:5353")
	dns.Close("ok")
	sess := func(id uint64) string { return "/labd/me/sessions/" + strconv.FormatUint(id, 10) }

	// Not logged in: to the login form, which speaks to students.
	anon := e.client(t)
	resp, _ := anon.get("/labd/me")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/labd/login?next=%2Flabd%2Fme" {
		t.Fatalf("/labd/me without login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := anon.get("/labd/login?next=/labd/me")
	if !strings.Contains(body, "Log in to see your sessions") {
		t.Error("the login form for /labd/me does not address students")
	}

	login := func(user string) *client {
		c := e.client(t)
		resp, body := c.do("POST", "/labd/login", url.Values{"user": {user}, "password": {user}, "next": {"/labd/me"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/labd/me" {
			t.Fatalf("%s login: %d %s %.200s", user, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return c
	}
	alice, bob := login("alice"), login("bob")
	for _, tc := range []struct {
		c          *client
		user       string
		own, other uint64
		pass       string
	}{{alice, "alice", aliceID, bobID, "alice:alice"}, {bob, "bob", bobID, aliceID, "bob:bob"}} {
		resp, body := tc.c.get("/labd/me")
		mustStatus(t, resp, body, 200)
		if !strings.Contains(body, `id="s-`+strconv.FormatUint(tc.own, 10)+`"`) {
			t.Errorf("%s does not see their session %d", tc.user, tc.own)
		}
		for _, id := range []uint64{tc.other, dns.ID()} {
			if strings.Contains(body, `id="s-`+strconv.FormatUint(id, 10)+`"`) {
				t.Errorf("%s sees session %d", tc.user, id)
			}
		}
		resp, body = tc.c.get(sess(tc.own))
		mustStatus(t, resp, body, 200)
		// Their own secret, typed before... and the unauthenticated start.
		if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(tc.pass)); !strings.Contains(body, want) {
			t.Errorf("%s's transcript does not show their own credentials %q", tc.user, want)
		}
		if strings.Count(body, "GET /auth HTTP/1.1") < 2 || !strings.Contains(body, "<svg") {
			t.Errorf("%s's session page lacks the request before login or the diagram", tc.user)
		}
		resp, body = tc.c.get(sess(tc.own) + "/capture.pcapng")
		mustStatus(t, resp, body, 200)
		if _, err := pcapng.Read(bytes.NewReader([]byte(body))); err != nil {
			t.Errorf("%s's capture: %v", tc.user, err)
		}
		for _, p := range []string{sess(tc.other), sess(tc.other) + "/capture.pcapng", sess(tc.other) + "/flow.svg", sess(tc.other) + "/keylog.txt", sess(dns.ID())} {
			resp, body := tc.c.get(p)
			if resp.StatusCode != http.StatusNotFound || strings.Contains(body, tc.pass) {
				t.Errorf("%s GET %s: %d, want 404", tc.user, p, resp.StatusCode)
			}
		}
	}
	// Admin pages still refuse a student.
	for _, p := range []string{"/labd/sessions", "/labd/sessions/" + strconv.FormatUint(bobID, 10) + "/capture.pcapng"} {
		resp, _ := login("alice").get(p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/labd/login") {
			t.Errorf("student GET %s: %d", p, resp.StatusCode)
		}
	}
	// An admin sees everyone's.
	resp, body = e.client(t).admin().get("/labd/me")
	mustStatus(t, resp, body, 200)
	for _, id := range []uint64{aliceID, bobID, dns.ID()} {
		if !strings.Contains(body, `id="s-`+strconv.FormatUint(id, 10)+`"`) {
			t.Errorf("admin does not see session %d", id)
		}
	}
	// Logging out ends the student's login.
	tok := csrfRE.FindStringSubmatch(func() string { _, b := alice.get("/labd/me"); return b }())
	if tok == nil {
		t.Fatal("no csrf token on /labd/me")
	}
	resp, _ = alice.do("POST", "/labd/me/logout", url.Values{"csrf": {tok[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := alice.get("/labd/me"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

func TestMeByAddress(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Dashboard.StudentsSeeByAddress = true })
	reg := e.deps.Sessions
	login := reg.Open("pop3", "tcp", "127.0.0.1:110", "127.0.0.1:40000")
	login.SetUser("alice")
	during := reg.Open("dns", "udp", "127.0.0.1:53", "127.0.0.1:5353")
	during.Close("ok")
	elsewhere := reg.Open("dns", "udp", "127.0.0.1:53", "10.0.0.9:5353")
	elsewhere.Close("ok")
	bobs := reg.Open("pop3", "tcp", "127.0.0.1:110", "127.0.0.1:40001")
	bobs.SetUser("bob")
	bobs.Close("ok")
	login.Close("ok")
	after := reg.Open("tftp", "udp", "127.0.0.1:69", "127.0.0.1:5000")
	after.Close("ok")

	c := e.client(t)
	if r, _ := c.do("POST", "/labd/login", url.Values{"user": {"alice"}, "password": {"alice"}, "next": {"/labd/me"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	_, body := c.get("/labd/me")
	for id, want := range map[uint64]bool{login.ID(): true, during.ID(): true, elsewhere.ID(): false, bobs.ID(): false, after.ID(): false} {
		if got := strings.Contains(body, `id="s-`+strconv.FormatUint(id, 10)+`"`); got != want {
			t.Errorf("session %d listed: %v, want %v", id, got, want)
		}
		resp, _ := c.get("/labd/me/sessions/" + strconv.FormatUint(id, 10))
		if (resp.StatusCode == 200) != want {
			t.Errorf("session %d page: %d", id, resp.StatusCode)
		}
	}
}

// A student's own page lists the exercises: done with the proving
// session, the others not started; another student's progress is not shown.
func TestMeChecklist(t *testing.T) {
	e := start(t)
	basicAuthSession(t, e, "alice", "alice")
	login := func(user string) *client {
		c := e.client(t)
		c.do("POST", "/labd/login", url.Values{"user": {user}, "password": {user}, "next": {"/labd/me"}})
		return c
	}
	alice, bob := login("alice"), login("bob")
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := alice.get("/labd/me")
		if strings.Contains(body, `id="ex-http-basic-auth" class="done"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's checklist:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, body := bob.get("/labd/me")
	if !strings.Contains(body, `id="ex-http-basic-auth" class="not-started"`) || !strings.Contains(body, `id="ex-smtp-by-hand"`) {
		t.Errorf("bob's checklist:\n%s", body)
	}
}

// A password change (here, by the store as `labd user passwd` on any host
// would) ends that user's dashboard logins, and only theirs.
func TestPasswordChangeEndsLogins(t *testing.T) {
	e := start(t)
	alice := e.client(t)
	if resp, _ := alice.do("POST", "/labd/login", url.Values{"user": {"alice"}, "password": {"alice"}, "next": {"/labd/me"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's login: %d", resp.StatusCode)
	}
	teacher := e.client(t).admin()
	if resp, _ := alice.get("/labd/me"); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's page: %d", resp.StatusCode)
	}
	if err := e.deps.Store.SetPassword(context.Background(), "alice", "changed"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := alice.get("/labd/me"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's page after her password changed: %d, want a redirect to the login", resp.StatusCode)
	}
	if resp, _ := teacher.get("/labd/sessions"); resp.StatusCode != http.StatusOK {
		t.Errorf("the teacher's login after alice's password changed: %d", resp.StatusCode)
	}
}

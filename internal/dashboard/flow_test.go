package dashboard_test

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	"labd/internal/dashboard"
	"labd/internal/sessions"
)

func recordedSMTP(reg *sessions.Registry) *sessions.Session {
	s := reg.Open("submission", "tcp", "127.0.0.1:587", "127.0.0.1:40001")
	say := func(dir sessions.Direction, text string) { s.Record(dir, []byte(text), false) }
	say(sessions.FromServer, "220 lab.test ESMTP labd\r\n")
	say(sessions.FromClient, "EHLO pc\r\n")
	say(sessions.FromServer, "250-lab.test\r\n")
	say(sessions.FromServer, "250-AUTH PLAIN LOGIN\r\n")
	say(sessions.FromServer, "250 STARTTLS\r\n")
	say(sessions.FromClient, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00hunter2"))+"\r\n")
	say(sessions.FromServer, "235 2.7.0 Authentication successful\r\n")
	say(sessions.FromClient, "MAIL FROM:<alice@lab.test>\r\n")
	say(sessions.FromServer, "250 OK\r\n")
	say(sessions.FromClient, "STARTTLS\r\n")
	say(sessions.FromServer, "220 go ahead\r\n")
	s.MarkTLS()
	s.Close("ok")
	return s
}

func TestFlow(t *testing.T) {
	e := start(t)
	s := recordedSMTP(e.deps.Sessions)
	c := e.client(t).admin()
	base := "/labd/sessions/" + strconv.FormatUint(s.ID(), 10)
	resp, body := c.get(base + "/flow")
	mustStatus(t, resp, body, 200)
	secret := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00hunter2"))
	if strings.Contains(body, secret) || !strings.Contains(body, "AUTH PLAIN ********") {
		t.Error("the AUTH PLAIN secret is not masked in the diagram")
	}
	for _, want := range []string{"<svg", "EHLO pc", "MAIL FROM:&lt;alice@lab.test&gt;", "250-lab.test (+2 lines)", "TLS handshake", "127.0.0.1:40001", "127.0.0.1:587", `class="arrow tcp"`, "flow.svg"} {
		if !strings.Contains(body, want) {
			t.Errorf("flow page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Error("inline script or style in the flow page (CSP)")
	}
	resp, body = c.get(base + "/flow.svg")
	mustStatus(t, resp, body, 200)
	if ct := resp.Header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Errorf("Content-Type %q", ct)
	}
	// Well-formed XML, or slide tools refuse it.
	dec := xml.NewDecoder(strings.NewReader(body))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("flow.svg is not well-formed: %v", err)
		}
	}
	if resp, _ := e.client(t).get(base + "/flow"); resp.StatusCode != 303 {
		t.Errorf("flow without login: %d", resp.StatusCode)
	}

	text := dashboard.FlowOf(s.Info(), s.Transcript(), false).Text()
	for _, want := range []string{"client 127.0.0.1:40001", "server 127.0.0.1:587 (submission)", " EHLO pc ", "-->|", "|<--", "........", "AUTH PLAIN ********"} {
		if !strings.Contains(text, want) {
			t.Errorf("text diagram lacks %q:\n%s", want, text)
		}
	}
}

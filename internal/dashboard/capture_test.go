package dashboard_test

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"labd/internal/pcapng"
	"labd/internal/sessions"
)

func TestCaptureDownload(t *testing.T) {
	e := start(t)
	s := e.deps.Sessions.Open("smtp", "tcp", "127.0.0.1:25", "127.0.0.1:40000")
	s.Record(sessions.FromServer, []byte("220 hi\r\n"), false)
	s.Record(sessions.FromClient, []byte("QUIT\r\n"), false)
	s.Close("ok")
	path := "/labd/sessions/" + strconv.FormatUint(s.ID(), 10) + "/capture.pcapng"

	resp, _ := e.client(t).get(path)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("without login: %d, want 303 to the login page", resp.StatusCode)
	}
	c := e.client(t).admin()
	resp, body := c.get(path)
	mustStatus(t, resp, body, 200)
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.tcpdump.pcap" {
		t.Errorf("Content-Type %q", ct)
	}
	f, err := pcapng.Read(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	// Handshake, two data segments, one ACK, the FIN exchange.
	if len(f.Packets) < 8 {
		t.Errorf("%d packets", len(f.Packets))
	}
	resp, body = c.get("/labd/sessions/99999/capture.pcapng")
	mustStatus(t, resp, body, 404)
	resp, body = c.get("/labd/sessions/" + strconv.FormatUint(s.ID(), 10) + "/keylog.txt")
	mustStatus(t, resp, body, 404) // no TLS in that session

	resp, body = c.get("/labd/capture.pcapng?protocol=smtp&since=10m")
	mustStatus(t, resp, body, 200)
	if f, err := pcapng.Read(strings.NewReader(body)); err != nil || len(f.Packets) < 8 {
		t.Errorf("class capture: %v", err)
	}
	resp, body = c.get("/labd/capture.pcapng?since=yesterday")
	mustStatus(t, resp, body, 400)
	_, body = c.get("/labd/sessions")
	if !strings.Contains(body, `action="/labd/capture.pcapng"`) {
		t.Error("sessions page lacks the class capture form")
	}

	// An HTTPS request: its session keeps the TLS secrets.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	r, err := hc.Get(e.tlsBase + "/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	hc.CloseIdleConnections()
	var id uint64
	for _, in := range e.deps.Sessions.List() {
		if in.Proto == "https" {
			id = in.ID
		}
	}
	resp, body = c.get("/labd/sessions/" + strconv.FormatUint(id, 10) + "/keylog.txt")
	mustStatus(t, resp, body, 200)
	if !strings.Contains(body, "CLIENT_") {
		t.Errorf("key log %q", body)
	}
	resp, _ = e.client(t).get("/labd/sessions/" + strconv.FormatUint(id, 10) + "/keylog.txt")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("key log without login: %d", resp.StatusCode)
	}
}

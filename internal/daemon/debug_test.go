package daemon

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestDebugListenerServesPprof(t *testing.T) {
	addr, stop, err := startDebug("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for path, want := range map[string]string{
		"/debug/pprof/":        "goroutine",
		"/debug/pprof/cmdline": "",
		"/":                    "404",
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case want == "404" && resp.StatusCode != http.StatusNotFound:
			t.Errorf("%s: status %d, want 404 (only pprof is served)", path, resp.StatusCode)
		case want != "404" && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want)):
			t.Errorf("%s: status %d, body %.80q", path, resp.StatusCode, body)
		}
	}
}

package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	httpsvc "labd/services/http"
)

// A small file is served from memory once read, but an edit (even one
// that keeps its size), a replacement or a removal is seen by the next
// request once the last check is FreshFor old (at once for a file nobody
// else is fetching: every request here comes after a pause of FreshFor).
func TestSmallFileCacheFollowsEdits(t *testing.T) {
	e := start(t)
	file := filepath.Join(e.deps.Layout.Home("alice"), "public_html", "tp.txt")
	get := func() string {
		resp := raw(t, e.plain, "GET /~alice/tp.txt HTTP/1.0\r\n\r\n")
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		return strings.TrimSpace(firstLine(resp)) + " " + body
	}
	steps := []struct {
		change func() error
		want   string
	}{
		{func() error { return os.WriteFile(file, []byte("version 1"), 0o644) }, "200 OK version 1"},
		{func() error { return nil }, "200 OK version 1"},
		{func() error { return os.WriteFile(file, []byte("version 2"), 0o644) }, "200 OK version 2"},
		{func() error {
			tmp := file + ".new"
			if err := os.WriteFile(tmp, []byte("version 3"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, file)
		}, "200 OK version 3"},
		{func() error {
			// The whole directory replaced by another one (kept open
			// between requests, labd must notice).
			dir := filepath.Dir(file)
			next := dir + ".next"
			if err := os.MkdirAll(next, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(next, "tp.txt"), []byte("version 4"), 0o644); err != nil {
				return err
			}
			if err := os.Rename(dir, dir+".old"); err != nil {
				return err
			}
			return os.Rename(next, dir)
		}, "200 OK version 4"},
		{func() error {
			// Replaced by a symlink to a file outside the served
			// directory: refused, never its content nor the cached one.
			secret := filepath.Join(t.TempDir(), "secret.txt")
			if err := os.WriteFile(secret, []byte("outside secret"), 0o644); err != nil {
				return err
			}
			if err := os.Remove(file); err != nil {
				return err
			}
			return os.Symlink(secret, file)
		}, "403"},
		{func() error {
			// A symlink inside the directory is followed: its target's
			// content, not the cached answer of the name.
			other := filepath.Join(filepath.Dir(file), "other.txt")
			if err := os.WriteFile(other, []byte("version 5"), 0o644); err != nil {
				return err
			}
			if err := os.Remove(file); err != nil {
				return err
			}
			return os.Symlink("other.txt", file)
		}, "200 OK version 5"},
		{func() error {
			if err := os.Remove(file); err != nil {
				return err
			}
			return os.WriteFile(file, []byte("version 6"), 0o644)
		}, "200 OK version 6"},
		{func() error { return os.Chmod(file, 0) }, "403"},
		{func() error { return os.Remove(file) }, "404"},
	}
	for i, s := range steps {
		// The previous request's check holds FreshFor; a pause longer
		// than that is a lower bound, not a timing assumption.
		time.Sleep(2 * httpsvc.FreshFor)
		if err := s.change(); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && s.want == "403" {
			continue // root reads a mode-0 file anyway
		}
		if got := get(); !strings.Contains(got, s.want) {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
}

// A cached file's answer has the head http.ServeContent gives it, and
// conditional and range requests still get 304 and 206.
func TestSmallFileCacheAnswers(t *testing.T) {
	e := start(t)
	file := filepath.Join(e.deps.Layout.Home("alice"), "public_html", "page.html")
	if err := os.WriteFile(file, []byte("<p>hello</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	first := raw(t, e.plain, "GET /~alice/page.html HTTP/1.0\r\n\r\n")
	cached := raw(t, e.plain, "GET /~alice/page.html HTTP/1.0\r\n\r\n")
	heads := func(resp string) map[string]string {
		h := map[string]string{}
		head, _, _ := strings.Cut(resp, "\r\n\r\n")
		for _, l := range strings.Split(head, "\r\n")[1:] {
			k, v, _ := strings.Cut(l, ": ")
			if k != "Date" {
				h[k] = v
			}
		}
		return h
	}
	a, b := heads(first), heads(cached)
	for k, v := range a {
		if b[k] != v {
			t.Errorf("header %s: %q first, %q from the cache", k, v, b[k])
		}
	}
	if len(a) != len(b) || !strings.HasSuffix(cached, "<p>hello</p>") || b["Content-Type"] != "text/html; charset=utf-8" {
		t.Errorf("cached answer differs:\n%s\nvs\n%s", first, cached)
	}
	if got := raw(t, e.plain, "GET /~alice/page.html HTTP/1.0\r\nIf-None-Match: "+b["Etag"]+"\r\n\r\n"); !strings.Contains(firstLine(got), "304") {
		t.Errorf("If-None-Match: %q", firstLine(got))
	}
	if got := raw(t, e.plain, "GET /~alice/page.html HTTP/1.0\r\nRange: bytes=0-2\r\n\r\n"); !strings.Contains(firstLine(got), "206") || !strings.HasSuffix(got, "<p>") {
		t.Errorf("Range: %q", got)
	}
	if got := raw(t, e.plain, "HEAD /~alice/page.html HTTP/1.0\r\n\r\n"); !strings.HasSuffix(got, "\r\n\r\n") || heads(got)["Content-Length"] != "12" {
		t.Errorf("HEAD: %q", got)
	}
}

// A file fetched without pause by other clients while a student edits it
// (the case where a check is reused for FreshFor) is served as edited to
// every request sent FreshFor after the edit completed. Meanwhile the
// others get the old file, the edited one or, while the write is under
// way, a part of it (or an error status: a file truncated between its
// stat and its read); the order among their concurrent requests is not
// checked (a request answered from a check less than FreshFor old may
// follow one that saw the edit).
func TestSmallFileCacheEditUnderLoad(t *testing.T) {
	e := start(t)
	file := filepath.Join(e.deps.Layout.Home("alice"), "public_html", "busy.txt")
	old, edited := []byte("before the edit"), []byte("after the edit!")
	if err := os.WriteFile(file, old, 0o644); err != nil {
		t.Fatal(err)
	}
	url := "http://" + e.plain + "/~alice/busy.txt"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	get := func() (int, []byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fetched atomic.Int64
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			for ctx.Err() == nil {
				code, b, err := get()
				switch {
				case err != nil:
					errs <- err
					return
				case code == http.StatusOK && !bytes.Equal(b, old) && !bytes.HasPrefix(edited, b):
					errs <- fmt.Errorf("unexpected content %q", b)
					return
				}
				fetched.Add(1)
			}
			errs <- nil
		}()
	}
	// Until the others are fetching (a bound, not a timing assumption:
	// past it the test goes on, and a client that failed says why).
	for wait := time.Now().Add(10 * time.Second); fetched.Load() < 3 && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	// Same size: only the stat's times and the content tell the edit.
	if err := os.WriteFile(file, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(httpsvc.FreshFor)
	for i := range 20 {
		code, b, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !bytes.Equal(b, edited) {
			t.Fatalf("request %d, sent %v after the edit: %d %q", i, httpsvc.FreshFor, code, b)
		}
	}
	cancel()
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

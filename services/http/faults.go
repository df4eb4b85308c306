package http

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"labd/internal/dashboard"
	"labd/internal/faults"
)

// withFaults applies the teacher's HTTP faults (latency, an error status
// for a path, a cut or slow body) to the students' pages; the dashboard is
// never affected. Each fault is a note in the session's transcript.
func (s *Service) withFaults(next http.Handler) http.Handler {
	set := s.deps.Faults
	if set == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !set.Any() || strings.HasPrefix(r.URL.Path, dashboard.Prefix) {
			next.ServeHTTP(w, r)
			return
		}
		sess := sessionOf(r)
		user := ""
		if sess != nil {
			user = sess.Info().User
		}
		note := func(f faults.Fault, format string, args ...any) {
			if sess != nil {
				sess.Notef("fault %d (%s): %s", f.ID, f, fmt.Sprintf(format, args...))
			}
		}
		if f, ok := set.Match("http", "latency", user, r.RemoteAddr); ok {
			d := time.Duration(f.Int("ms")) * time.Millisecond
			note(f, "response held back %s", d)
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if f, ok := set.Match("http", "status", user, r.RemoteAddr); ok && strings.HasPrefix(r.URL.Path, f.Params["path"]) {
			code := f.Int("code")
			if ra := f.Params["retry_after"]; code == http.StatusServiceUnavailable && ra != "" && ra != "0" {
				w.Header().Set("Retry-After", ra)
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			fmt.Fprintf(w, "%d %s (%s)\n", code, http.StatusText(code), s.tr.T("a fault the teacher switched on for this lesson"))
			note(f, "answered %d for %s", code, r.URL.Path)
			return
		}
		if f, ok := set.Match("http", "cut", user, r.RemoteAddr); ok {
			note(f, "response body cut in the middle, connection closed")
			w = &cutWriter{ResponseWriter: w}
		} else if f, ok := set.Match("http", "slow", user, r.RemoteAddr); ok {
			note(f, "response body sent at %d kbit/s", f.Int("kbps"))
			w = &slowWriter{ResponseWriter: w, kbps: f.Int("kbps")}
		}
		next.ServeHTTP(w, r)
	})
}

// cutWriter sends half the body (of a known length; 512 bytes otherwise),
// then aborts the connection as a crashed server would.
type cutWriter struct {
	http.ResponseWriter
	limit, sent int
}

func (c *cutWriter) WriteHeader(code int) {
	c.limit = 512
	if n, err := strconv.Atoi(c.Header().Get("Content-Length")); err == nil && n > 1 {
		c.limit = n / 2
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.limit == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if room := c.limit - c.sent; len(p) > room {
		c.ResponseWriter.Write(p[:room])
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	c.sent += len(p)
	return c.ResponseWriter.Write(p)
}

// slowWriter sends the body at a slow link's pace.
type slowWriter struct {
	http.ResponseWriter
	kbps int
}

func (s *slowWriter) Write(p []byte) (int, error) {
	return faults.WritePaced(func(b []byte) (int, error) {
		n, err := s.ResponseWriter.Write(b)
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		return n, err
	}, p, s.kbps)
}

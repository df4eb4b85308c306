package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"labd/internal/capture"
	"labd/internal/exercises"
	"labd/internal/faults"
	"labd/internal/fsroot"
	"labd/internal/service"
	"labd/internal/sessions"
)

// The control socket (data_dir/labd.sock) lets `labd sessions` and `labd
// reload` reach the running daemon. It is a Unix socket, so only users who
// can open the data directory can use it.

// SessionDetail is one session with its transcript.
type SessionDetail struct {
	Info       sessions.Info    `json:"info"`
	Transcript []sessions.Entry `json:"transcript"`
}

func startControl(deps service.Deps, reload func(context.Context) string) (*http.Server, error) {
	path := deps.Layout.ControlSocket()
	if Running(deps.Layout, 200*time.Millisecond) {
		return nil, fmt.Errorf("%s answers: is another labd running on this data directory?", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o660)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, deps.Sessions.List())
	})
	mux.HandleFunc("GET /v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
		s, ok := deps.Sessions.Get(id)
		if !ok {
			http.Error(w, "no such session (finished sessions are kept up to sessions.history)", http.StatusNotFound)
			return
		}
		writeJSON(w, SessionDetail{Info: s.Info(), Transcript: s.Transcript()})
	})
	mux.HandleFunc("GET /v1/sessions/{id}/capture.pcapng", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
		ss := capture.WithData(deps.Sessions, id)
		if ss == nil {
			http.Error(w, "no such session (finished sessions are kept up to sessions.history)", http.StatusNotFound)
			return
		}
		writeCapture(w, ss)
	})
	mux.HandleFunc("GET /v1/capture.pcapng", func(w http.ResponseWriter, r *http.Request) {
		f, err := capture.ParseFilter(r.URL.Query(), time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeCapture(w, capture.Select(deps.Sessions, f))
	})
	mux.HandleFunc("GET /v1/listeners", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, deps.Endpoints.List())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, reload(r.Context()))
	})
	handleFaults(mux, deps)
	mux.HandleFunc("GET /v1/progress", func(w http.ResponseWriter, r *http.Request) {
		if deps.Exercises == nil {
			http.Error(w, "no exercises are declared: set exercises.builtin: true or exercises.file in the config", http.StatusNotFound)
			return
		}
		deps.Exercises.Wait()
		rep := ProgressReport{Exercises: exerciseIDs(deps.Exercises), Progress: deps.Exercises.Snapshot()}
		if users, err := deps.Store.ListUsers(r.Context()); err == nil {
			for _, u := range users {
				if !u.Admin {
					rep.Students = append(rep.Students, u.Name)
				}
			}
		}
		writeJSON(w, rep)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			deps.Logger.Warn("control socket stopped", "err", err)
		}
	}()
	return srv, nil
}

func writeCapture(w http.ResponseWriter, ss []capture.Session) {
	var buf bytes.Buffer
	if err := capture.Write(&buf, ss); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	_, _ = w.Write(buf.Bytes())
}

// Running says whether a labd serves layout's data directory: its control
// socket answers within timeout.
func Running(layout fsroot.Layout, timeout time.Duration) bool {
	c, err := net.DialTimeout("unix", layout.ControlSocket(), timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Control is a client of a running daemon's control socket.
type Control struct {
	c *http.Client
}

// DialControl returns a client for the daemon whose socket is at path.
func DialControl(path string) *Control {
	return &Control{c: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

func (c *Control) get(path string, v any) error {
	return c.download(path, func(r io.Reader) error { return json.NewDecoder(r).Decode(v) })
}

// download GETs path and hands the body of a 200 answer to read; any
// other answer's body is the error.
func (c *Control) download(path string, read func(io.Reader) error) error {
	resp, err := c.c.Get("http://labd" + path)
	if err != nil {
		return fmt.Errorf("cannot reach the running labd (is it running with this data directory?): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	return read(resp.Body)
}

// Sessions lists live and recent sessions.
func (c *Control) Sessions() ([]sessions.Info, error) {
	var out []sessions.Info
	return out, c.get("/v1/sessions", &out)
}

// Session returns one session with its transcript.
func (c *Control) Session(id uint64) (SessionDetail, error) {
	var out SessionDetail
	return out, c.get("/v1/sessions/"+strconv.FormatUint(id, 10), &out)
}

// Capture writes the pcapng export of session id (with its FTP data
// connections) to w.
func (c *Control) Capture(id uint64, w io.Writer) error {
	return c.download("/v1/sessions/"+strconv.FormatUint(id, 10)+"/capture.pcapng", copyTo(w))
}

// ClassCapture writes the sessions that pass the filter (query form: user,
// protocol, since) as one pcapng file to w.
func (c *Control) ClassCapture(q url.Values, w io.Writer) error {
	return c.download("/v1/capture.pcapng?"+q.Encode(), copyTo(w))
}

func copyTo(w io.Writer) func(io.Reader) error {
	return func(r io.Reader) error {
		_, err := io.Copy(w, r)
		return err
	}
}

// Reload asks the daemon to reload, as SIGHUP does.
func (c *Control) Reload() (string, error) {
	resp, err := c.c.Post("http://labd/v1/reload", "text/plain", nil)
	if err != nil {
		return "", fmt.Errorf("cannot reach the running labd: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// FaultRequest is what `labd fault set` sends.
type FaultRequest struct {
	faults.Fault
	For time.Duration `json:"for"`
}

func handleFaults(mux *http.ServeMux, deps service.Deps) {
	mux.HandleFunc("GET /v1/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, deps.Faults.List())
	})
	mux.HandleFunc("POST /v1/faults", func(w http.ResponseWriter, r *http.Request) {
		var req FaultRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad fault request: "+err.Error(), http.StatusBadRequest)
			return
		}
		f, err := deps.Faults.Add(req.Fault, req.For)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		deps.Logger.Info("fault set", "id", f.ID, "fault", f.String(), "scope", f.Scope(), "until", f.Expires.Format(time.RFC3339), "by", "labd fault")
		writeJSON(w, f)
	})
	mux.HandleFunc("DELETE /v1/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			http.Error(w, "fault id must be a number (0: all)", http.StatusBadRequest)
			return
		}
		n := deps.Faults.Clear(id)
		deps.Logger.Info("faults cleared", "id", id, "count", n, "by", "labd fault")
		writeJSON(w, n)
	})
}

// Faults lists the active faults.
func (c *Control) Faults() ([]faults.Fault, error) {
	var out []faults.Fault
	return out, c.get("/v1/faults", &out)
}

// SetFault switches a fault on for d.
func (c *Control) SetFault(f faults.Fault, d time.Duration) (faults.Fault, error) {
	b, _ := json.Marshal(FaultRequest{Fault: f, For: d})
	resp, err := c.c.Post("http://labd/v1/faults", "application/json", bytes.NewReader(b))
	if err != nil {
		return f, fmt.Errorf("cannot reach the running labd: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return f, errors.New(strings.TrimSpace(string(msg)))
	}
	return f, json.NewDecoder(resp.Body).Decode(&f)
}

// ClearFaults switches off fault id, or every fault with id 0.
func (c *Control) ClearFaults(id int) (int, error) {
	req, _ := http.NewRequest(http.MethodDelete, "http://labd/v1/faults/"+strconv.Itoa(id), nil)
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the running labd: %w", err)
	}
	defer resp.Body.Close()
	var n int
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return 0, errors.New(strings.TrimSpace(string(msg)))
	}
	return n, json.NewDecoder(resp.Body).Decode(&n)
}

// ProgressReport is the class's progress with the exercises' ids in order.
type ProgressReport struct {
	Exercises []string           `json:"exercises"`
	Students  []string           `json:"students"`
	Progress  exercises.Progress `json:"progress"`
}

func exerciseIDs(t *exercises.Tracker) []string {
	var ids []string
	for _, e := range t.Exercises() {
		ids = append(ids, e.ID)
	}
	return ids
}

// Progress returns the class's progress.
func (c *Control) Progress() (ProgressReport, error) {
	var out ProgressReport
	return out, c.get("/v1/progress", &out)
}

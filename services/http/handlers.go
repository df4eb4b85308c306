package http

import (
	"bytes"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"labd/internal/fsroot"
	"labd/internal/i18n"
	"labd/internal/store"
)

//go:embed templates/*.html
var templates embed.FS

func (s *Service) handler() http.HandlerFunc {
	mux := http.NewServeMux()
	tr := s.tr
	tmpl := template.Must(template.New("").Funcs(tr.Funcs()).ParseFS(templates, "templates/*.html"))
	// patterns are the mux's routes besides "/", for the direct path
	// below.
	var patterns []string
	handle := func(pattern string, h http.Handler) {
		patterns = append(patterns, pattern)
		mux.Handle(pattern, h)
	}
	handleFunc := func(pattern string, h http.HandlerFunc) { handle(pattern, h) }

	handleFunc("/echo", s.echo)
	handleFunc("/status/{code}", s.status(tmpl))
	handle("/redirect", http.RedirectHandler("/echo", http.StatusFound))
	handle("/moved", http.RedirectHandler("/", http.StatusMovedPermanently))
	handleFunc("/auth", s.basicAuth)
	handleFunc("/ca.pem", s.caPEM)
	handleFunc("/ca.crt", s.caDER)
	handleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	handleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	handleFunc("/autodiscover/autodiscover.xml", s.autodiscover)
	handleFunc("/Autodiscover/Autodiscover.xml", s.autodiscover)
	handleFunc("GET /mail.mobileconfig", s.mobileconfig)
	for _, m := range s.extras {
		handle(m.Pattern, m.Handler)
	}
	var direct *directRoutes
	if s.cfg.Root != "" {
		mux.HandleFunc("/", s.rootDir)
		direct = newDirectRoutes(patterns)
	} else {
		mux.HandleFunc("/{$}", s.index(tmpl, tr))
		mux.HandleFunc("/index.html", s.index(tmpl, tr))
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.page(w, r, tmpl, http.StatusNotFound) })
	}
	// ServeMux wildcards are whole segments, so /~user/ is routed here.
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/~") {
			s.userDir(w, r)
			return
		}
		if direct.routes(r) {
			s.rootDir(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}
}

// directRoutes tells which requests the mux would give to the "/" route
// of http.root anyway, so that they skip its matching (its allocations,
// and a goroutine stack growth on most new connections: 5-7% of a
// Connection: close request). It answers false whenever in doubt, and
// the mux decides.
type directRoutes struct {
	// first holds the first path segment of every other route.
	first map[string]bool
}

// newDirectRoutes returns nil (the mux decides everything) if a route is
// not a plain path whose first segment is literal text.
func newDirectRoutes(patterns []string) *directRoutes {
	d := &directRoutes{first: map[string]bool{}}
	for _, p := range patterns {
		if _, rest, ok := strings.Cut(p, " "); ok {
			p = strings.TrimLeft(rest, " \t") // "GET /path"
		}
		if !strings.HasPrefix(p, "/") {
			return nil // a host pattern
		}
		seg, _, _ := strings.Cut(p[1:], "/")
		if seg == "" || strings.ContainsAny(seg, "{}") {
			return nil
		}
		d.first[seg] = true
	}
	return d
}

// routes reports whether r goes to the "/" route as the mux would send
// it: a clean path (the mux redirects others), no escaped form of its
// own (the mux matches that), not CONNECT, and a first segment that no
// other route starts with.
func (d *directRoutes) routes(r *http.Request) bool {
	if d == nil || r.Method == http.MethodConnect || r.URL.RawPath != "" {
		return false
	}
	p := r.URL.Path
	if !isCleanPath(p) {
		return false
	}
	seg, _, _ := strings.Cut(p[1:], "/")
	return !d.first[seg]
}

// isCleanPath says whether net/http's ServeMux would leave p as it is
// (its cleanPath: path.Clean, keeping one trailing slash).
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		return len(p) == len(np)+1 && strings.HasPrefix(p, np)
	}
	return np == p
}

// front is the server's handler: the teacher's faults when one is on,
// otherwise straight to common's work with one call less on the stack
// (the stack of a new connection's goroutine grows when it gets deep).
func (s *Service) front(next http.HandlerFunc) http.Handler {
	faulty := s.withFaults(s.common(next))
	set := s.deps.Faults
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if set != nil && set.Any() {
			faulty.ServeHTTP(w, r)
			return
		}
		s.serveCommon(w, r, next)
	})
}

// common sets the headers every answer carries and recovers a handler's
// panic into a 500 for that request only.
func (s *Service) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveCommon(w, r, next.ServeHTTP)
	})
}

func (s *Service) serveCommon(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panicked", "path", r.URL.Path, "remote", r.RemoteAddr, "panic", v)
			http.Error(w, s.tr.T("500 internal server error"), http.StatusInternalServerError)
		}
	}()
	w.Header()["Server"] = serverHeader
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.debugRequest(r)
	}
	next(w, r)
}

// debugRequest logs a request; apart from serveCommon, whose stack frame
// would otherwise hold the log call's arguments on every request.
func (s *Service) debugRequest(r *http.Request) {
	s.log.Debug("request", "remote", r.RemoteAddr, "method", r.Method, "uri", r.RequestURI, "proto", r.Proto)
}

type indexData struct {
	Host      string
	Domain    string
	Endpoints []endpointRow
	HasCA     bool
	Users     []string
	// MailHost is the name mail clients must use: they check the
	// certificate's names, not IP addresses.
	MailHost, HostAddr string
}

type endpointRow struct {
	Service, Network, Addr, Hint string
	TLS                          bool
}

var hints = map[string]string{
	"http":       "curl -v http://HOSTPORT/echo",
	"https":      "curl --cacert ca.pem https://HOSTPORT/",
	"smtp":       "nc HOST PORT, then EHLO me",
	"submission": "swaks --server HOST:PORT --auth-user alice",
	"smtps":      "openssl s_client -connect HOST:PORT",
	"pop3":       "nc HOST PORT, then USER alice",
	"pop3s":      "openssl s_client -connect HOST:PORT",
	"imap":       "nc HOST PORT, then a LOGIN alice alice",
	"imaps":      "openssl s_client -connect HOST:PORT",
	"dns":        "dig @HOST -p PORT lab.test MX",
	"ftp":        "ftp -p HOST PORT",
	"tftp":       "tftp HOST PORT, then get README.txt",
	"ssh":        "ssh -p PORT alice@HOST",
	"telnet":     "telnet HOST PORT",
}

func (s *Service) index(tmpl *template.Template, tr *i18n.Printer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := s.deps.Config
		d := indexData{Host: cfg.FQDN(), Domain: cfg.Server.Domain, HasCA: len(s.deps.TLS.CAPEM) > 0, MailHost: cfg.MailHost()}
		// The address the browser used stands in for a wildcard one.
		seen, _ := splitHostPort(r.Host)
		if !strings.Contains(r.Host, ":") || strings.HasSuffix(r.Host, "]") {
			seen = strings.Trim(r.Host, "[]")
		}
		for _, e := range s.deps.Endpoints.List() {
			host, port := splitHostPort(e.Addr)
			if (host == "0.0.0.0" || host == "::" || host == "") && seen != "" {
				host = seen
			}
			if d.HostAddr == "" && e.Service == "http" {
				d.HostAddr = host
			}
			hint := strings.NewReplacer("HOSTPORT", net.JoinHostPort(host, port), "HOST", host, "PORT", port).Replace(tr.T(hints[e.Service]))
			d.Endpoints = append(d.Endpoints, endpointRow{Service: e.Service, Network: e.Network, Addr: e.Addr, TLS: e.TLS, Hint: hint})
		}
		if net.ParseIP(d.HostAddr) == nil {
			// The /etc/hosts line needs an address, not a name.
			d.HostAddr = "HOST-ADDRESS"
			if ip := net.ParseIP(cfg.Server.PublicAddress); ip != nil && !ip.IsUnspecified() {
				d.HostAddr = ip.String()
			}
		}
		if users, err := s.deps.Store.ListUsers(r.Context()); err == nil {
			for _, u := range users {
				d.Users = append(d.Users, u.Name)
			}
		}
		render(w, tmpl, "index.html", http.StatusOK, d)
	}
}

func splitHostPort(a string) (string, string) {
	i := strings.LastIndex(a, ":")
	if i < 0 {
		return a, ""
	}
	return strings.Trim(a[:i], "[]"), a[i+1:]
}

func render(w http.ResponseWriter, tmpl *template.Template, name string, code int, data any) {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

type statusData struct {
	Code   int
	Text   string
	Class  string
	Method string
	Path   string
}

func statusClass(code int) string {
	switch code / 100 {
	case 1:
		return "1xx informational"
	case 2:
		return "2xx success"
	case 3:
		return "3xx redirection"
	case 4:
		return "4xx client error"
	default:
		return "5xx server error"
	}
}

func (s *Service) page(w http.ResponseWriter, r *http.Request, tmpl *template.Template, code int) {
	render(w, tmpl, "status.html", code, statusData{Code: code, Text: http.StatusText(code), Class: statusClass(code), Method: r.Method, Path: r.URL.Path})
}

// status answers /status/NNN with that status, so the class can see each
// code in curl -v and in Wireshark.
func (s *Service) status(tmpl *template.Template) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			http.Error(w, s.tr.T("400 bad request: /status/NNN takes a code between 200 and 599"), http.StatusBadRequest)
			return
		}
		switch {
		case code == http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Basic realm="labd status demo"`)
		case code >= 300 && code < 400 && code != http.StatusNotModified:
			w.Header().Set("Location", "/echo")
		case code == http.StatusNoContent || code == http.StatusNotModified:
			w.WriteHeader(code)
			return
		}
		s.page(w, r, tmpl, code)
	}
}

// basicAuth is a page behind HTTP Basic authentication checked against the
// user database. The credentials travel base64-encoded, not encrypted:
// that is what the class sees in Wireshark.
func (s *Service) basicAuth(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if ok {
		u, err := s.deps.Guard.Authenticate(r.Context(), "http", r.RemoteAddr, user, pass)
		if err == nil {
			if sess := sessionOf(r); sess != nil {
				sess.SetUser(u.Name)
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, s.tr.T("Hello %s: the server accepted your Basic credentials.\nThey crossed the network as %q, base64 and not encrypted.", u.Name, r.Header.Get("Authorization")))
			return
		}
		if errors.Is(err, store.ErrUnavailable) {
			// Not a wrong password: try again soon.
			s.log.Warn("basic auth: user database unavailable", "remote", r.RemoteAddr, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "503 the user database does not answer, so your password was not checked: try again in a moment", http.StatusServiceUnavailable)
			return
		}
		if !errors.Is(err, store.ErrAuthFailed) {
			http.Error(w, s.tr.T("500 internal server error"), http.StatusInternalServerError)
			return
		}
		s.log.Info("basic auth failed", "remote", r.RemoteAddr, "user", user)
		// As on the other protocols, a wrong password answers after a
		// pause: a script looping on 401s costs the host little.
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="labd", charset="UTF-8"`)
	http.Error(w, s.tr.T("401 unauthorized: log in with a lab user name and password"), http.StatusUnauthorized)
}

func (s *Service) caPEM(w http.ResponseWriter, r *http.Request) {
	if len(s.deps.TLS.CAPEM) == 0 {
		http.Error(w, s.tr.T("404 not found: this host uses a configured certificate, not the lab CA"), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="labd-ca.pem"`)
	w.Write(s.deps.TLS.CAPEM)
}

// caDER serves the CA in DER form, which browsers and Windows offer to
// install when opened.
func (s *Service) caDER(w http.ResponseWriter, r *http.Request) {
	b, _ := pem.Decode(s.deps.TLS.CAPEM)
	if b == nil {
		http.Error(w, s.tr.T("404 not found: this host uses a configured certificate, not the lab CA"), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Write(b.Bytes)
}

// userDir serves home/<user>/public_html through os.Root, so that neither
// ".." nor a symlink a user planted leads out of it.
func (s *Service) userDir(w http.ResponseWriter, r *http.Request) {
	name, rest, hasSlash := strings.Cut(strings.TrimPrefix(r.URL.Path, "/~"), "/")
	user := store.NormalizeUser(name)
	if store.CheckUserName(user) != nil {
		http.NotFound(w, r)
		return
	}
	if !hasSlash {
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
		return
	}
	dir := filepath.Join(s.deps.Layout.Home(user), "public_html")
	untrusted(w)
	s.files.serveRoot(w, r, s.tr, dir, "/"+rest, "/~"+user+"/")
}

func (s *Service) rootDir(w http.ResponseWriter, r *http.Request) {
	// http.root may be a directory students upload to (FTP pub/).
	untrusted(w)
	s.files.serveRoot(w, r, s.tr, s.cfg.Root, r.URL.Path, "/")
}

// userContentCSP puts pages written by users into an opaque origin: their
// scripts run (the class writes JavaScript), but the browser treats them as
// another site, so they neither carry the teacher's SameSite dashboard
// cookie nor read same-origin responses, storage or cookies.
const userContentCSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

// untrusted marks an answer as user content: sandboxed, and never sniffed
// into HTML from a file named .txt or .png.
func untrusted(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Security-Policy"] = userContentCSPHeader
	h["X-Content-Type-Options"] = nosniffHeader
}

// Header values set on every answer, shared read-only (http.Header.Set
// and Add replace or reallocate a value slice, they never write into it):
// one allocation less per header and request.
var (
	serverHeader         = []string{Version}
	userContentCSPHeader = []string{userContentCSP}
	nosniffHeader        = []string{"nosniff"}
)

func (fc *fileCache) serveRoot(w http.ResponseWriter, r *http.Request, tr *i18n.Printer, dir, p, base string) {
	name := relName(p)
	// A small file checked less than freshFor ago is served from
	// memory at once; one seen before, after the stat calls. This path
	// is kept lean (the rest is in serveFile): with a shallower stack a
	// new connection's goroutine grows its stack once, in net/http,
	// instead of here first.
	if c := fc.fresh(dir, name); c != nil {
		if !c.serve(w, r) {
			c.serveContent(w, r, name)
		}
		return
	}
	checked := time.Now()
	re, err := fc.openRoot(dir)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer fc.closeRoot(re)
	if st, err := re.root.Stat(name); err == nil && st.Mode().IsRegular() {
		if c, ok := fc.get(dir, name, st, checked); ok {
			if !c.serve(w, r) {
				c.serveContent(w, r, name)
			}
			return
		}
	}
	fc.serveFile(w, r, tr, re.root, dir, name, base, checked)
}

// relName is fsroot.Rel for a path that starts with a slash, as a
// request's does: without a copy when the path is clean.
func relName(p string) string {
	if !strings.HasPrefix(p, "/") {
		return fsroot.Rel(p)
	}
	if r := strings.TrimPrefix(path.Clean(p), "/"); r != "" {
		return r
	}
	return "."
}

// serveContent answers a conditional or range request for a cached file.
func (c *cachedFile) serveContent(w http.ResponseWriter, r *http.Request, name string) {
	w.Header().Set("ETag", c.etag[0])
	http.ServeContent(plainWriter{w}, r, path.Base(name), c.mtime, bytes.NewReader(c.data))
}

// serveFile serves name from the file system (and keeps it if small).
func (fc *fileCache) serveFile(w http.ResponseWriter, r *http.Request, tr *i18n.Printer, root *os.Root, dir, name, base string, checked time.Time) {
	// Open, then fstat: one path walk per request instead of two.
	f, st, err := openStat(root, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
		} else {
			http.Error(w, tr.T("403 forbidden"), http.StatusForbidden)
		}
		return
	}
	if st.IsDir() {
		f.Close()
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
			return
		}
		idx := path.Join(name, "index.html")
		f, st, err = openStat(root, idx)
		if err != nil || st.IsDir() {
			if f != nil {
				f.Close()
			}
			listDir(w, tr, root, name, base+strings.TrimPrefix(name, "."))
			return
		}
		name = idx
	}
	defer f.Close()
	if st.Size() <= smallFile {
		data := make([]byte, st.Size())
		if _, err := io.ReadFull(f, data); err != nil {
			http.Error(w, tr.T("403 forbidden"), http.StatusForbidden)
			return
		}
		fc.put(dir, name, st, data, checked)
		setETag(w, st)
		// Hiding the ResponseWriter's ReadFrom keeps the body in the
		// same buffer, and the same write(2), as the head.
		http.ServeContent(plainWriter{w}, r, path.Base(name), st.ModTime(), bytes.NewReader(data))
		return
	}
	// A large file goes as the *os.File itself, so that net/http hands it
	// to sendfile(2).
	setETag(w, st)
	http.ServeContent(w, r, path.Base(name), st.ModTime(), f)
}

// setETag gives a file a validator for caches and conditional requests
// (If-None-Match -> 304, which ServeContent answers once the ETag is set).
func setETag(w http.ResponseWriter, st fs.FileInfo) {
	w.Header().Set("ETag", etagOf(st))
}

func etagOf(st fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, st.ModTime().UnixNano(), st.Size())
}

// plainWriter is a ResponseWriter without ReadFrom: net/http's ReadFrom
// flushes the head before copying, two writes for a small file.
type plainWriter struct{ http.ResponseWriter }

func openStat(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

func listDir(w http.ResponseWriter, tr *i18n.Printer, root *os.Root, name, shown string) {
	entries, err := fs.ReadDir(root.FS(), name)
	if err != nil {
		http.Error(w, tr.T("403 forbidden"), http.StatusForbidden)
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var b bytes.Buffer
	title := tr.T("Index of %s", template.HTMLEscapeString(shown))
	fmt.Fprintf(&b, "<!doctype html>\n<html lang=\"%s\">\n<meta charset=\"utf-8\">\n<title>%s</title>\n<h1>%s</h1>\n<ul>\n", tr.Lang(), title, title)
	for _, e := range entries {
		n, href := e.Name(), url.PathEscape(e.Name())
		if e.IsDir() {
			n, href = n+"/", href+"/"
		}
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", href, template.HTMLEscapeString(n))
	}
	b.WriteString("</ul>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// httpDate is used by the echo page to show the server's clock.
func httpDate() string { return time.Now().UTC().Format(http.TimeFormat) }

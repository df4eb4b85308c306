package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

var pages = []string{"login", "overview", "sessions", "transcript", "mail", "files", "dns", "users", "sheet", "board", "faults", "progress", "error", "flow", "me", "me_session"}

var funcs = template.FuncMap{
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("15:04:05")
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("2006-01-02 15:04:05")
	},
	"millis": func(t time.Time) string { return t.Format("15:04:05.000") },
	"unix":   func(t time.Time) int64 { return t.UnixMilli() },
	"size":   humanSize,
	"dur": func(a, b time.Time) string {
		if b.IsZero() {
			b = time.Now()
		}
		return b.Sub(a).Round(time.Second).String()
	},
	"join": strings.Join,
}

func humanSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

func (d *Dashboard) parseTemplates() {
	d.tmpl = make(map[string]func() (*template.Template, error), len(pages))
	for _, p := range pages {
		d.tmpl[p] = sync.OnceValues(func() (*template.Template, error) {
			t, err := template.New(p).Funcs(funcs).Funcs(d.langFuncs()).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
			if err != nil {
				return nil, fmt.Errorf("dashboard template %s: %w", p, err)
			}
			return t, nil
		})
	}
}

// template returns the parsed template of page name.
func (d *Dashboard) template(name string) (*template.Template, error) {
	parse, ok := d.tmpl[name]
	if !ok {
		return nil, fmt.Errorf("dashboard template %s: no such page", name)
	}
	return parse()
}

// page is what every template receives.
type page struct {
	Page  string
	User  string // logged-in admin, empty on public pages
	CSRF  string
	Board bool
	Data  any
	// Student is a logged-in user on their own pages (/labd/me).
	Student string
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p := page{Page: name, Board: d.cfg.Board(), Data: data}
	if l := current(r); l != nil {
		p.User, p.CSRF = l.user, l.csrf
	} else if v := viewerOf(r); v != nil {
		p.Student, p.CSRF = v.user, v.csrf
	}
	var buf bytes.Buffer
	t, err := d.template(name)
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		d.log.Error("dashboard template", "page", name, "err", err)
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d.render(w, r, status, "error", map[string]any{"Status": status, "Text": d.tr.T(http.StatusText(status)), "Message": d.tr.Err(errors.New(msg))})
}

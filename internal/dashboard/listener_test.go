package dashboard_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"labd/internal/labtest"
	httpsvc "labd/services/http"
)

// TestOwnListener: with dashboard.listen the dashboard is a separate
// origin: served there only, not under /labd/ of the students' web server,
// and student pages are not served on it.
func TestOwnListener(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.Dashboard.Listen = []string{"127.0.0.1:0"}
	d := labtest.Deps(t, cfg)
	if err := d.Store.CreateUser(context.Background(), "teacher", "teach-pw", true); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(d.Layout.Home("alice"), "public_html"), 0o755)
	svc, err := httpsvc.New(d)
	if err != nil {
		t.Fatal(err)
	}
	eps := labtest.Start(t, svc)
	web := env{base: "http://" + labtest.Addr(t, eps, "http", "tcp")}
	dash := env{base: "http://" + labtest.Addr(t, eps, "dashboard", "tcp")}
	if r, _ := web.client(t).get("/labd/login"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/labd/login on the web server: %d, want 404", r.StatusCode)
	}
	if r, _ := dash.client(t).get("/~alice/"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/~alice/ on the dashboard's listener: %d, want 404", r.StatusCode)
	}
	c := dash.client(t).admin()
	if r, body := c.get("/labd/users"); r.StatusCode != http.StatusOK {
		t.Errorf("users page on the dashboard's listener: %d %.200s", r.StatusCode, body)
	}
}

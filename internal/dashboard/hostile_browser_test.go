package dashboard_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"labd/internal/labtest"
)

// hostilePage is what a student puts in public_html and asks the teacher
// to look at: with the teacher's dashboard cookie in the browser it tries
// to read the CSRF token and create an admin, by fetch, by a form posted
// into a frame and by framing the dashboard, and to read transcripts
// through the API. Everything it learns goes into #log.
const hostilePage = `<!doctype html>
<title>my homework</title>
<pre id="log"></pre>
<form id="f" method="POST" action="/labd/users" target="sink">
<input name="name" value="mallory3"><input name="password" value="mallory-pw-3">
<input name="admin" value="1"><input name="csrf" id="tok" value="">
</form>
<iframe name="sink" id="sink"></iframe>
<iframe id="frame" src="/labd/users"></iframe>
<script>
const log = (s) => { document.getElementById('log').textContent += s + "\n"; };
(async () => {
  let tok = '';
  try {
    const r = await fetch('/labd/users', {credentials: 'include'});
    const html = await r.text();
    const m = html.match(/name="csrf" value="([^"]+)"/);
    if (m) { tok = m[1]; log('TOKEN-READ'); }
    log('users page: status ' + r.status);
  } catch (e) { log('users page: ' + e); }
  try {
    const body = new URLSearchParams({name: 'mallory', password: 'mallory-pw-1', admin: '1', csrf: tok});
    const r = await fetch('/labd/users', {method: 'POST', credentials: 'include', body});
    log('create: status ' + r.status);
  } catch (e) { log('create: ' + e); }
  try {
    const body = new URLSearchParams({name: 'mallory2', password: 'mallory-pw-2', admin: '1', csrf: tok});
    await fetch('/labd/users', {method: 'POST', mode: 'no-cors', credentials: 'include', body});
    log('no-cors create sent');
  } catch (e) { log('no-cors create: ' + e); }
  try {
    const r = await fetch('/labd/api/sessions', {credentials: 'include'});
    const t = await r.text();
    if (r.ok) log('API-READ ' + t.slice(0, 200));
    log('api: status ' + r.status);
  } catch (e) { log('api: ' + e); }
  try {
    const doc = document.getElementById('frame').contentDocument;
    if (doc && doc.body && doc.body.innerHTML.includes('csrf')) log('FRAME-READ');
    log('frame: ' + (doc ? 'document' : 'no document'));
  } catch (e) { log('frame: ' + e); }
  document.getElementById('tok').value = tok;
  document.getElementById('f').submit();
  await new Promise((ok) => setTimeout(ok, 1000));
  try {
    const w = window.open('/labd/users');
    await new Promise((ok) => setTimeout(ok, 1000));
    if (w && w.document && w.document.body.innerHTML.includes('csrf')) log('WINDOW-READ');
    log('window: ' + (w ? 'opened' : 'null'));
  } catch (e) { log('window: ' + e); }
  log('DONE');
})();
</script>
`

// TestBrowserHostileStudentPage: the teacher, logged in to the dashboard,
// opens a student's page in the same browser. The page must not create an
// account nor read the dashboard, and the teacher stays logged in.
func TestBrowserHostileStudentPage(t *testing.T) {
	chromium := labtest.Tool(t, "chromium")
	e := start(t)
	dir := filepath.Join(e.deps.Layout.Home("alice"), "public_html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "homework.html"), []byte(hostilePage), 0o644); err != nil {
		t.Fatal(err)
	}
	// A transcript worth stealing.
	c := e.client(t).admin()
	c.login("teacher", "a-wrong-guess")

	ctx, cancel := newBrowser(t, chromium)
	defer cancel()
	watchdog := time.AfterFunc(60*time.Second, cancel)
	defer watchdog.Stop()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("the teacher logs in",
		chromedp.Navigate(e.base+"/labd/users"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "teacher"),
		chromedp.SendKeys(chromedp.ID("password"), "teach-pw"),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitReady(chromedp.CSS(`input[name="csrf"]`)),
	)
	step("the teacher opens the student's page",
		chromedp.Navigate(e.base+"/~alice/homework.html"),
	)
	var log string
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		log, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("log")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(log, "DONE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's script did not finish:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("what the hostile page saw:\n%s", log)
	for _, leak := range []string{"TOKEN-READ", "API-READ", "FRAME-READ", "WINDOW-READ"} {
		if strings.Contains(log, leak) {
			t.Errorf("the student page got %s", leak)
		}
	}
	// Give a posted form time to land before looking.
	time.Sleep(500 * time.Millisecond)
	for _, name := range []string{"mallory", "mallory2", "mallory3"} {
		if _, err := e.deps.Store.User(context.Background(), name); err == nil {
			t.Errorf("the student page created the account %s", name)
		}
	}
	step("the teacher is still logged in",
		chromedp.Navigate(e.base+"/labd/users"),
		chromedp.WaitReady(chromedp.CSS(`input[name="csrf"]`)),
	)
}

// newBrowser starts a headless Chromium with a fresh profile; cancel
// stops it.
func newBrowser(t *testing.T, chromium string) (context.Context, context.CancelFunc) {
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-popup-blocking", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	return ctx, func() { cancel(); cancelAlloc() }
}

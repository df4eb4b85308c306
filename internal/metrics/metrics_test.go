package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"labd/internal/labtest"
)

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	return string(b)
}

// value returns the sample of a metric line such as
// `labd_sessions_total{protocol="dns"}`, or 0.
func value(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// The counters move as a test drives sessions, and what a scrape shows
// is what the class did.
func TestMetricsFollowSessions(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	maddr := d.Addr(t, "metrics", "tcp")
	before := scrape(t, maddr)
	if !strings.Contains(before, "labd_build_info{") {
		t.Errorf("no labd_build_info:\n%s", before)
	}

	dnsAddr := d.Addr(t, "dns", "udp")
	for i := 0; i < 3; i++ {
		m := new(dns.Msg)
		m.SetQuestion("lab.test.", dns.TypeMX)
		if _, _, err := new(dns.Client).Exchange(m, dnsAddr); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + d.Addr(t, "http", "tcp") + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// Sessions close asynchronously from the client's view: poll.
	deadline := time.Now().Add(20 * time.Second)
	var after string
	for {
		after = scrape(t, maddr)
		if value(after, `labd_sessions_total{protocol="dns"}`) >= 3 && value(after, `labd_dns_queries_total{rcode="NOERROR",transport="udp"}`) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dns sessions not counted:\n%s", grep(after, "labd_"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A wrong POP3 password moves the failure counter of POP3.
	c := labtest.Dial(t, d.Addr(t, "pop3", "tcp"))
	br := bufio.NewReader(c)
	br.ReadString('\n')
	fmt.Fprintf(c, "USER alice\r\nPASS wrong\r\n")
	br.ReadString('\n')
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "-ERR") {
		t.Fatalf("wrong password answered %q", l)
	}
	for value(after, `labd_logins_total{protocol="pop3",result="failed"}`) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("failed POP3 login not counted:\n%s", grep(after, "labd_logins"))
		}
		time.Sleep(50 * time.Millisecond)
		after = scrape(t, maddr)
	}
	if value(after, `labd_bytes_total{direction="in",protocol="dns"}`) <= 0 {
		t.Errorf("no DNS bytes in:\n%s", grep(after, "labd_bytes"))
	}
	if !strings.Contains(after, "labd_transcript_bytes ") || !strings.Contains(after, "process_resident_memory_bytes") {
		t.Errorf("gauges missing:\n%s", grep(after, "labd_"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A delivered mail and a refused recipient are counted, the refusal by
// its reason.
func TestMetricsCountMails(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	maddr := d.Addr(t, "metrics", "tcp")
	c, err := smtp.Dial(d.Addr(t, "smtp", "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("bob@lab.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@lab.test"); err == nil {
		t.Fatal("RCPT to an unknown user accepted")
	}
	if err := c.Rcpt("alice@lab.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "Subject: counted\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	deadline := time.Now().Add(20 * time.Second)
	for {
		text := scrape(t, maddr)
		if value(text, `labd_mails_delivered_total`) >= 1 && value(text, `labd_mails_refused_total{reason="no_such_user"}`) >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mails not counted:\n%s", grep(text, "labd_mails"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/smtp"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pin/tftp/v3"

	"labd/internal/labtest"
)

// TestWithRealServices runs the whole daemon and checks what the dashboard
// shows of real DNS queries and a real FTP login.
func TestWithRealServices(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	if err := d.Deps.Store.CreateUser(context.Background(), "teacher", "teach-pw", true); err != nil {
		t.Fatal(err)
	}
	c := env{base: "http://" + d.Addr(t, "http", "tcp")}.client(t).admin()
	// A missing endpoint fails the test: it means a service did not bind.
	has := func(t *testing.T, svc string) string { return d.Addr(t, svc, "tcp") }

	t.Run("DNS queries", func(t *testing.T) {
		addr := has(t, "dns")
		name := dns.Fqdn(cfg.FQDN())
		for _, net := range []string{"udp", "tcp"} {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			cl := &dns.Client{Net: net, Timeout: 5 * time.Second}
			if _, _, err := cl.Exchange(m, addr); err != nil {
				t.Fatalf("%s query: %v", net, err)
			}
		}
		m := new(dns.Msg)
		m.SetQuestion("nosuch."+cfg.Server.Domain+".", dns.TypeMX)
		if _, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr); err != nil {
			t.Fatal(err)
		}
		resp, body := c.get("/labd/dns")
		mustStatus(t, resp, body, 200)
		for _, want := range []string{name, ">A<", ">udp<", ">tcp<", "NOERROR", "nosuch." + cfg.Server.Domain + ".", ">MX<", "NXDOMAIN"} {
			if !strings.Contains(body, want) {
				t.Errorf("DNS page lacks %q", want)
			}
		}
		// Zones, read by zone transfer.
		zones := body[strings.Index(body, "<h2>Zones</h2>"):]
		for _, want := range []string{`id="zone-` + dns.Fqdn(cfg.Server.Domain) + `"`, ">SOA<", ">NS<", name + "</td>", "in-addr.arpa."} {
			if !strings.Contains(zones, want) {
				t.Errorf("zones lack %q:\n%s", want, zones)
			}
		}
		// The dashboard's own transfers are not among the queries.
		_, body = c.get("/labd/dns?zones=0")
		queries := body[strings.Index(body, `<table id="dns"`):]
		queries = queries[:strings.Index(queries, "</table>")]
		if strings.Contains(queries, "AXFR") || strings.Contains(queries, ">SOA<") {
			t.Errorf("the dashboard's zone transfers are listed as queries")
		}
	})

	t.Run("FTP login masked", func(t *testing.T) {
		addr := has(t, "ftp")
		conn := labtest.Dial(t, addr)
		br := bufio.NewReader(conn)
		expect := func(code string) {
			t.Helper()
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("waiting for %s: %v", code, err)
				}
				if len(line) >= 4 && line[3] == ' ' {
					if !strings.HasPrefix(line, code) {
						t.Fatalf("got %q, want %s", line, code)
					}
					return
				}
			}
		}
		expect("220")
		fmt.Fprint(conn, "USER alice\r\n")
		expect("331")
		fmt.Fprint(conn, "PASS alice\r\n")
		expect("230")
		fmt.Fprint(conn, "QUIT\r\n")
		expect("221")
		conn.Close()
		id := sessionOf(t, d, conn.LocalAddr().String())
		path := fmt.Sprintf("/labd/sessions/%d", id)
		resp, body := c.get(path)
		mustStatus(t, resp, body, http.StatusOK)
		if strings.Contains(body, "PASS alice") || !strings.Contains(body, `PASS <span class="masked"`) {
			t.Errorf("PASS not masked on the transcript page")
		}
		for _, want := range []string{"USER alice", `<span class="badge ok">2xx success</span>`, `<span class="badge more">3xx intermediate: send more</span>`} {
			if !strings.Contains(body, want) {
				t.Errorf("transcript lacks %q", want)
			}
		}
		_, body = c.get(path + "?unmask=1")
		if !strings.Contains(body, `PASS <span class="secret" title="sent in clear">alice</span>`) {
			t.Errorf("unmasked transcript does not show the password")
		}
		_, body = c.get(path + "/text")
		if !strings.Contains(body, "C PASS ********") {
			t.Errorf("download not masked:\n%s", body)
		}
		_, body = c.get("/labd/files?user=alice")
		if !strings.Contains(body, fmt.Sprintf(`<a href="/labd/sessions/%d">%d</a></td><td>ftp</td>`, id, id)) {
			t.Errorf("the FTP session is not among the recent transfers")
		}
	})
	t.Run("SMTP AUTH and a multipart mail", func(t *testing.T) {
		addr := has(t, "smtp")
		raw, err := os.ReadFile("../../testdata/mail/mime-attachment.eml")
		if err != nil {
			t.Fatal(err)
		}
		conn := labtest.Dial(t, addr)
		cl, err := smtp.NewClient(conn, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Hello("student"); err != nil {
			t.Fatal(err)
		}
		if err := cl.Auth(smtp.PlainAuth("", "alice", "alice", "127.0.0.1")); err != nil {
			t.Fatalf("AUTH PLAIN: %v", err)
		}
		if err := cl.Mail("alice@lab.test"); err != nil {
			t.Fatal(err)
		}
		if err := cl.Rcpt("bob@lab.test"); err != nil {
			t.Fatal(err)
		}
		w, err := cl.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write(raw)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		cl.Quit()
		id := sessionOf(t, d, conn.LocalAddr().String())
		path := fmt.Sprintf("/labd/sessions/%d", id)
		_, body := c.get(path)
		if strings.Contains(body, "AGFsaWNlAGFsaWNl") || !strings.Contains(body, `AUTH PLAIN <span class="masked"`) {
			t.Errorf("AUTH PLAIN payload not masked")
		}
		_, body = c.get(path + "?unmask=1")
		if !strings.Contains(body, `<span class="secret" title="sent in clear">AGFsaWNlAGFsaWNl</span> <span class="decoded">base64 of: ␀alice␀alice</span>`) {
			t.Errorf("unmasked AUTH PLAIN not shown decoded")
		}
		_, body = c.get("/labd/mail?user=bob&box=INBOX")
		if !strings.Contains(body, "Résumé du TP n°3 — pièce jointe") {
			t.Fatalf("bob's INBOX lacks the mail: %.2000s", body)
		}
		uid := regexp.MustCompile(`uid=(\d+)">Résumé du TP`).FindStringSubmatch(body)
		if uid == nil {
			t.Fatal("no link to the message")
		}
		_, body = c.get("/labd/mail?user=bob&box=INBOX&uid=" + uid[1])
		for _, want := range []string{"multipart/mixed", "text/plain", "quoted-printable", "application/octet-stream", "base64", "attachment (donnees.bin)", "Voici le résumé du TP n°3"} {
			if !strings.Contains(body, want) {
				t.Errorf("message page lacks %q", want)
			}
		}
	})

	t.Run("POP3 USER/PASS masked, replies annotated", func(t *testing.T) {
		addr := has(t, "pop3")
		conn := labtest.Dial(t, addr)
		br := bufio.NewReader(conn)
		for _, cmd := range []string{"", "USER alice", "PASS alice", "STAT", "QUIT"} {
			if cmd != "" {
				fmt.Fprintf(conn, "%s\r\n", cmd)
			}
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "+OK") {
				t.Fatalf("%s: %q %v", cmd, line, err)
			}
		}
		id := sessionOf(t, d, conn.LocalAddr().String())
		_, body := c.get(fmt.Sprintf("/labd/sessions/%d", id))
		if strings.Contains(body, "PASS alice") || !strings.Contains(body, `PASS <span class="masked"`) || !strings.Contains(body, "USER alice") {
			t.Errorf("POP3 PASS not masked")
		}
		if !strings.Contains(body, `<span class="badge ok">&#43;OK success</span>`) {
			t.Errorf("+OK not annotated")
		}
	})

	t.Run("Telnet password masked", func(t *testing.T) {
		addr := has(t, "telnet")
		conn := labtest.Dial(t, addr)
		var seen []byte
		waitFor := func(s string) {
			t.Helper()
			buf := make([]byte, 512)
			for !strings.Contains(string(seen), s) {
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("waiting for %q: %v (got %q)", s, err, seen)
				}
				seen = append(seen, buf[:n]...)
			}
			seen = nil
		}
		waitFor("login: ")
		fmt.Fprint(conn, "alice\r\n")
		waitFor("Password: ")
		fmt.Fprint(conn, "alice\r\n")
		deadline := time.Now().Add(10 * time.Second)
		for {
			var user string
			for _, in := range d.Deps.Sessions.List() {
				if in.Remote == conn.LocalAddr().String() {
					user = in.User
				}
			}
			if user == "alice" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("telnet login did not succeed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		id := sessionOf(t, d, conn.LocalAddr().String())
		_, body := c.get(fmt.Sprintf("/labd/sessions/%d/text", id))
		if !regexp.MustCompile(`(?m) C alice$`).MatchString(body) || !regexp.MustCompile(`(?m) C \*\*\*\*\*\*\*\*$`).MatchString(body) {
			t.Errorf("telnet transcript: the login must be clear and the password masked:\n%s", body)
		}
	})
	t.Run("TFTP transfer listed", func(t *testing.T) {
		addr := d.Addr(t, "tftp", "udp")
		cl, err := tftp.NewClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		cl.SetTimeout(2 * time.Second)
		wt, err := cl.Receive("README.txt", "octet")
		if err != nil {
			t.Fatalf("tftp get README.txt: %v", err)
		}
		var buf strings.Builder
		if _, err := wt.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		// The exchange finishes on the server after the last ACK.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, body := c.get("/labd/files?area=pub")
			if strings.Contains(body, "<td>tftp</td>") && strings.Contains(body, "file=README.txt") {
				if !strings.Contains(body, "README.txt</a>") {
					t.Errorf("pub/ listing lacks README.txt")
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the TFTP transfer is not among the recent transfers: %.3000s", body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("IMAP LOGIN masked, tagged replies annotated", func(t *testing.T) {
		addr := has(t, "imap")
		conn := labtest.Dial(t, addr)
		br := bufio.NewReader(conn)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
			t.Fatalf("greeting %q %v", line, err)
		}
		for _, cmd := range []string{"a1 LOGIN alice alice", "a2 SELECT INBOX", "a3 LOGOUT"} {
			fmt.Fprintf(conn, "%s\r\n", cmd)
			tag := strings.Fields(cmd)[0]
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				if strings.HasPrefix(line, tag+" ") {
					if !strings.HasPrefix(line, tag+" OK") {
						t.Fatalf("%s: %q", cmd, line)
					}
					break
				}
			}
		}
		id := sessionOf(t, d, conn.LocalAddr().String())
		_, body := c.get(fmt.Sprintf("/labd/sessions/%d", id))
		if strings.Contains(body, "LOGIN alice alice") || !strings.Contains(body, `a1 LOGIN alice <span class="masked"`) {
			t.Errorf("IMAP LOGIN password not masked")
		}
		for _, want := range []string{`<span class="badge ok">tagged OK (a1)</span>`, `<span class="badge ok">untagged OK</span>`} {
			if !strings.Contains(body, want) {
				t.Errorf("transcript lacks %q", want)
			}
		}
	})
}

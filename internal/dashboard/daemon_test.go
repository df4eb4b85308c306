package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

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
	has := func(svc string) string {
		for _, ep := range d.Endpoints {
			if ep.Service == svc && ep.Network == "tcp" {
				return ep.Addr
			}
		}
		return ""
	}

	t.Run("DNS queries", func(t *testing.T) {
		addr := has("dns")
		if addr == "" {
			t.Skip("no dns service registered")
		}
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
		addr := has("ftp")
		if addr == "" {
			t.Skip("no ftp service registered")
		}
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
}

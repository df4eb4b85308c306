package dns_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"labd/config"
	"labd/internal/labtest"
)

// run executes an external client and returns its combined output.
func run(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		// dig and host exit non-zero for some expected failures (refused
		// transfer): the caller checks the output.
		t.Logf("%s %s: %v", path, strings.Join(args, " "), err)
	}
	return string(out)
}

func TestDig(t *testing.T) {
	dig := labtest.Tool(t, "dig")
	l := startLab(t, mailPorts)
	base := []string{"@127.0.0.1", "-p", labtest.Port(t, l.udp), "+time=5", "+tries=1"}
	tests := []struct {
		name string
		args []string
		want []string // regular expressions
		not  []string
	}{
		{"MX", []string{"lab.test", "MX"}, []string{`status: NOERROR`, `flags: qr aa rd;`, `lab\.test\.\s+300\s+IN\s+MX\s+10 mail\.lab\.test\.`, `mail\.lab\.test\.\s+300\s+IN\s+A\s+127\.0\.0\.1`}, nil},
		{"NS norecurse", []string{"+norecurse", "lab.test", "NS"}, []string{`flags: qr aa;`, `IN\s+NS\s+ns\.lab\.test\.`}, nil},
		{"PTR", []string{"-x", "127.0.0.1"}, []string{`1\.0\.0\.127\.in-addr\.arpa\.\s+300\s+IN\s+PTR\s+labd\.lab\.test\.`}, nil},
		{"TCP", []string{"+tcp", "www.lab.test"}, []string{`\(TCP\)`, `www\.lab\.test\.\s+300\s+IN\s+A\s+127\.0\.0\.1`}, nil},
		{"AXFR", []string{"lab.test", "AXFR"}, []string{`XFR size: \d+ records`, `alice\.lab\.test\.\s+300\s+IN\s+A`, `(?s)IN\s+SOA.*IN\s+SOA`}, nil},
		{"truncation retry", []string{"+noedns", "big.lab.test"}, []string{`Truncated, retrying in TCP mode`, `ANSWER: 40,`, `\(TCP\)`}, nil},
		{"tc flag", []string{"+ignore", "+noedns", "big.lab.test"}, []string{`flags: qr aa tc rd;`, `ANSWER: 0,`}, nil},
		{"EDNS big", []string{"+bufsize=4096", "big.lab.test"}, []string{`ANSWER: 40,`, `\(UDP\)`}, []string{`Truncated`}},
		{"NXDOMAIN", []string{"nosuch.lab.test"}, []string{`status: NXDOMAIN`, `AUTHORITY: 1`, `IN\s+SOA\s+ns\.lab\.test\.`}, nil},
		{"NODATA", []string{"www.lab.test", "MX"}, []string{`status: NOERROR`, `ANSWER: 0, AUTHORITY: 1`}, nil},
		{"CNAME", []string{"smtp.lab.test"}, []string{`smtp\.lab\.test\.\s+300\s+IN\s+CNAME\s+mail\.lab\.test\.`, `mail\.lab\.test\.\s+300\s+IN\s+A\s+127\.0\.0\.1`}, nil},
		{"TXT", []string{"lab.test", "TXT"}, []string{`"v=spf1 mx -all"`}, nil},
		{"EDNS size 1232", []string{"lab.test", "SOA"}, []string{`; EDNS: version: 0, flags:; udp: 1232`}, nil},
		{"SRV imap (RFC 6186)", []string{"_imaps._tcp.lab.test", "SRV"}, []string{`_imaps\._tcp\.lab\.test\.\s+300\s+IN\s+SRV\s+0 1 10993 mail\.lab\.test\.`}, nil},
		{"autoconfig", []string{"autoconfig.lab.test"}, []string{`autoconfig\.lab\.test\.\s+300\s+IN\s+A\s+127\.0\.0\.1`}, nil},
		{"REFUSED", []string{"example.com"}, []string{`status: REFUSED`, `recursion requested but not available`}, []string{`flags:[a-z ]* ra`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, dig, append(append([]string{}, base...), tt.args...)...)
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("dig %s: output lacks %s:\n%s", strings.Join(tt.args, " "), w, out)
				}
			}
			for _, w := range tt.not {
				if regexp.MustCompile(w).MatchString(out) {
					t.Errorf("dig %s: output has %s:\n%s", strings.Join(tt.args, " "), w, out)
				}
			}
		})
	}
	t.Run("round robin", func(t *testing.T) {
		firsts := map[string]bool{}
		for range 4 {
			out := run(t, dig, append(append([]string{}, base...), "+short", "rr.lab.test")...)
			lines := strings.Fields(out)
			if len(lines) != 4 {
				t.Fatalf("rr: %q", out)
			}
			firsts[lines[0]] = true
		}
		if len(firsts) < 2 {
			t.Errorf("dig rr.lab.test always starts with %v", firsts)
		}
	})
}

func TestDigAXFRRefused(t *testing.T) {
	dig := labtest.Tool(t, "dig")
	l := startLab(t, func(c *config.Config) { c.DNS.AllowTransfer = []string{"10.0.0.0/8"} })
	out := run(t, dig, "@127.0.0.1", "-p", labtest.Port(t, l.udp), "+time=5", "+tries=1", "lab.test", "AXFR")
	if !strings.Contains(out, "Transfer failed") || strings.Contains(out, "XFR size") {
		t.Errorf("refused AXFR:\n%s", out)
	}
}

func TestHost(t *testing.T) {
	host := labtest.Tool(t, "host")
	l := startLab(t, nil)
	p := labtest.Port(t, l.udp)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-t", "MX", "lab.test"}, []string{"lab.test mail is handled by 10 mail.lab.test."}},
		{[]string{"-t", "NS", "lab.test"}, []string{"lab.test name server ns.lab.test."}},
		{[]string{"-t", "SOA", "lab.test"}, []string{"lab.test has SOA record ns.lab.test. hostmaster.lab.test."}},
		{[]string{"-t", "AAAA", "www.lab.test"}, []string{"www.lab.test has IPv6 address ::1"}},
		{[]string{"-t", "CNAME", "pop3.lab.test"}, []string{"pop3.lab.test is an alias for mail.lab.test."}},
		{[]string{"127.0.0.1"}, []string{"1.0.0.127.in-addr.arpa domain name pointer labd.lab.test."}},
		{[]string{"-t", "A", "alice.lab.test"}, []string{"alice.lab.test has address 127.0.0.1"}},
		// host retries over TCP after TC and shows all 40 addresses.
		{[]string{"-t", "A", "big.lab.test"}, []string{"big.lab.test has address 127.0.1.1\n", "big.lab.test has address 127.0.1.40\n"}},
		{[]string{"-T", "-t", "MX", "lab.test"}, []string{"lab.test mail is handled by 10 mail.lab.test."}},
	}
	for _, tt := range tests {
		args := append(append([]string{"-W", "5", "-p", p}, tt.args...), "127.0.0.1")
		out := run(t, host, args...)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("host %s: output lacks %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
	}
}

// TestDaemon runs the service through daemon.Run (as labd serve does),
// and SIGHUP reloads it.
func TestDaemon(t *testing.T) {
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	udp := d.Addr(t, "dns", "udp")
	tcp := d.Addr(t, "dns", "tcp")
	if labtest.Port(t, udp) != labtest.Port(t, tcp) {
		t.Errorf("UDP %s and TCP %s should share the port", udp, tcp)
	}
	r := exchange(t, "udp", udp, "www.lab.test.", dns.TypeA)
	if len(r.Answer) != 1 {
		t.Fatalf("www: %v", r)
	}
	if err := d.Deps.Store.CreateUser(context.Background(), "dave", "dave", false); err != nil {
		t.Fatal(err)
	}
	d.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = exchange(t, "udp", udp, "dave.lab.test.", dns.TypeA)
		if len(r.Answer) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(r.Answer) != 1 {
		t.Errorf("SIGHUP did not add dave.lab.test: %v", r)
	}
}

package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLabProfile(t *testing.T) {
	c := Lab()
	if err := c.Validate(); err != nil {
		t.Fatalf("lab profile does not validate: %v", err)
	}
	want := map[string]string{
		"http": "127.0.0.1:10080", "https": "127.0.0.1:10443", "smtp": "127.0.0.1:10025",
		"submission": "127.0.0.1:10587", "smtps": "127.0.0.1:10465", "pop3": "127.0.0.1:10110",
		"pop3s": "127.0.0.1:10995", "imap": "127.0.0.1:10143", "imaps": "127.0.0.1:10993",
		"dns": "127.0.0.1:10053", "ftp": "127.0.0.1:10021", "tftp": "127.0.0.1:10069",
		"ssh": "127.0.0.1:10022", "telnet": "127.0.0.1:10023",
	}
	got := map[string][]string{}
	for _, e := range c.Endpoints() {
		got[e.Service] = append(got[e.Service], e.Addr)
	}
	for svc, addr := range want {
		// Where ::1 can be bound, each service also listens there on
		// the same port.
		v6 := strings.Replace(addr, "127.0.0.1", "[::1]", 1)
		if !slices.Contains(got[svc], addr) || haveIPv6Loopback() && !slices.Contains(got[svc], v6) {
			t.Errorf("%s listens on %q, want %q (and %s where IPv6 is on)", svc, got[svc], addr, v6)
		}
	}
	if !c.Users.Demo || c.Server.Domain != "lab.test" || c.Server.DataDir != "./labd-data" {
		t.Errorf("lab profile: demo=%v domain=%q data=%q", c.Users.Demo, c.Server.Domain, c.Server.DataDir)
	}
}

func TestProductionDefaults(t *testing.T) {
	c, err := Parse("prod.yaml", []byte("server:\n  domain: school.lab\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Users.Demo {
		t.Error("a config file must not create demo users unless asked")
	}
	if c.SMTP.Listen[0] != "0.0.0.0:25" || c.DNS.Listen[0] != "0.0.0.0:53" {
		t.Errorf("production ports: smtp %v dns %v", c.SMTP.Listen, c.DNS.Listen)
	}
	if !c.IMAP.Enabled || !c.TFTP.Enabled {
		t.Error("services omitted from the file should stay enabled")
	}
}

func TestGoodFile(t *testing.T) {
	c, err := Load("../testdata/config/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Listen[0] != "127.0.0.1:20025" || c.HTTP.Listen[0] != "127.0.0.1:20080" {
		t.Errorf("port offset not applied: %v %v", c.SMTP.Listen, c.HTTP.Listen)
	}
	if c.Server.GracePeriod.D() != 3*time.Second || c.SMTP.MaxMessageBytes != 1<<20 {
		t.Errorf("values not read: grace %v size %d", c.Server.GracePeriod, c.SMTP.MaxMessageBytes)
	}
	if c.POP3.Enabled || len(c.Endpoints()) != 5 {
		t.Errorf("disabled services still listed: %v", c.Endpoints())
	}
}

func TestErrorsNameLineAndKey(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"../testdata/config/bad-keys.yaml", []string{
			`bad-keys.yaml:6: unknown key "smtp.max_mesage_bytes"`,
			`bad-keys.yaml:9: unknown key "http.listn"`,
			"max_message_bytes", // the known keys are listed
		}},
		{"../testdata/config/bad-values.yaml", []string{
			`bad-values.yaml:4: server.listen: "not-an-ip" is not an IP address`,
			`bad-values.yaml:6: smtp.listen: port "99999"`,
			`bad-values.yaml:7: smtp.relay_networks: "10.0.0.0/33"`,
			`bad-values.yaml:9: tls.cert: file "/nonexistent/cert.pem"`,
			`tls: cert and key go together`,
			`bad-values.yaml:11: ftp.passive_ports: "500-100"`,
			`tcp 127.0.0.1:1110 is also used by pop3`,
		}},
	}
	for _, tc := range tests {
		_, err := Load(tc.file)
		if err == nil {
			t.Fatalf("%s: no error", tc.file)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.file, w, err)
			}
		}
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "2m": 2 * time.Minute, "45": 45 * time.Second} {
		c, err := Parse("d.yaml", []byte("server:\n  grace_period: "+in+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.Server.GracePeriod.D() != want {
			t.Errorf("%s: got %v", in, c.Server.GracePeriod)
		}
	}
	_, err := Parse("d.yaml", []byte("server:\n  grace_period: soon\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("broken.yaml", []byte("server:\n  domain: [unclosed\n"))
	if err == nil || !strings.Contains(err.Error(), "broken.yaml") || !strings.Contains(err.Error(), "line") {
		t.Errorf("syntax error should name file and line: %v", err)
	}
}

// The documented example must stay a valid config.
func TestExampleConfigIsValid(t *testing.T) {
	c, err := Load("../labd.yaml.example")
	if err != nil {
		t.Fatalf("labd.yaml.example: %v", err)
	}
	if c.Users.Demo || c.Server.DataDir != "/var/lib/labd" || c.HTTP.Listen[0] != "0.0.0.0:80" {
		t.Errorf("example is not the production config: demo=%v data=%s http=%v", c.Users.Demo, c.Server.DataDir, c.HTTP.Listen)
	}
}

package faults_test

import (
	"strings"
	"testing"

	"labd/internal/faults"
	"labd/internal/labtest"
)

// Under block-passive, curl's passive listing fails while active mode
// works, as behind a firewall; block-active is the reverse.
func TestFTPFirewallFaultsWithCurl(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	url := "ftp://alice:alice@127.0.0.1:" + labtest.Port(t, d.Addr(t, "ftp", "tcp")) + "/"
	curl := labtest.Tool(t, "curl")
	passive := func() (string, error) { return runExit(curl, "-s", "-S", "--max-time", "20", url) }
	active := func() (string, error) {
		return runExit(curl, "-s", "-S", "--max-time", "20", "-P", "127.0.0.1", url)
	}
	if out, err := passive(); err != nil {
		t.Fatalf("passive listing without fault: %v %s", err, out)
	}

	f := set(t, d, faults.Fault{Service: "ftp", Kind: "block-passive"})
	// The data connection never comes through: curl gives up, as a
	// client behind a real firewall would.
	if out, err := runExit(curl, "-s", "-S", "--max-time", "3", url); err == nil {
		t.Errorf("passive listing worked through the passive firewall:\n%s", out)
	}
	if out, err := active(); err != nil || !strings.Contains(out, "public_html") {
		t.Errorf("active listing under block-passive: %v\n%s", err, out)
	}
	d.Deps.Faults.Clear(f.ID)

	set(t, d, faults.Fault{Service: "ftp", Kind: "block-active"})
	if out, err := active(); err == nil {
		t.Errorf("active listing worked through the active firewall:\n%s", out)
	}
	if out, err := passive(); err != nil {
		t.Errorf("passive listing under block-active: %v\n%s", err, out)
	}
	n := notes(d, "ftp")
	if !strings.Contains(n, "refused as by a firewall") || !strings.Contains(n, "dropped as by a firewall") {
		t.Errorf("faults not in the FTP transcripts:\n%s", n)
	}
	d.Deps.Faults.Clear(0)

	set(t, d, faults.Fault{Service: "ftp", Kind: "ratelimit", Params: map[string]string{"kbps": "10000"}})
	if out, err := passive(); err != nil {
		t.Errorf("listing under ratelimit: %v %s", err, out)
	}
	if n := notes(d, "ftp-data"); !strings.Contains(n, "bandwidth capped at 10000 kbit/s") {
		t.Errorf("ratelimit not noted on the data connection:\n%s", n)
	}
}

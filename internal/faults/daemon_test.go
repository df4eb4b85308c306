package faults_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/config"
	"labd/internal/faults"
	"labd/internal/labtest"
	"labd/internal/sessions"
)

func set(t *testing.T, d *labtest.Daemon, f faults.Fault) faults.Fault {
	t.Helper()
	got, err := d.Deps.Faults.Add(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// notes returns the labd notes of the sessions of a protocol.
func notes(d *labtest.Daemon, proto string) string {
	var b strings.Builder
	for _, in := range d.Deps.Sessions.List() {
		if in.Proto != proto {
			continue
		}
		s, _ := d.Deps.Sessions.Get(in.ID)
		for _, e := range s.Transcript() {
			if e.Dir == sessions.Note {
				b.Write(e.Data)
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func TestDNSFaultsWithDig(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	port := labtest.Port(t, d.Addr(t, "dns", "udp"))
	dig := func(args ...string) string {
		return labtest.RunTool(t, "dig", append([]string{"@127.0.0.1", "-p", port, "+tries=1", "+time=5"}, args...)...)
	}

	f := set(t, d, faults.Fault{Service: "dns", Kind: "servfail", Params: map[string]string{"name": "lab.test"}})
	if out := dig("lab.test", "MX"); !strings.Contains(out, "status: SERVFAIL") {
		t.Errorf("servfail fault: dig said\n%s", out)
	}
	if out := dig("www.lab.test", "A"); !strings.Contains(out, "status: NOERROR") {
		t.Errorf("a name the fault does not name failed:\n%s", out)
	}
	d.Deps.Faults.Clear(f.ID)
	if out := dig("lab.test", "MX"); !strings.Contains(out, "status: NOERROR") {
		t.Errorf("after clear: dig said\n%s", out)
	}

	set(t, d, faults.Fault{Service: "dns", Kind: "truncate"})
	out := dig("lab.test", "MX")
	if !strings.Contains(out, "Truncated, retrying in TCP mode") || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "MX\t10 mail.lab.test.") {
		t.Errorf("forced truncation: dig should retry over TCP and get the answer:\n%s", out)
	}
	if n := notes(d, "dns"); !strings.Contains(n, "TC set and records removed") {
		t.Errorf("no note of the fault in the DNS transcripts:\n%s", n)
	}

	// An address fault spares the other addresses of the class.
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: "dns", Kind: "refused", Addr: "127.0.0.2"})
	if out := dig("-b", "127.0.0.2", "lab.test", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Errorf("address fault not applied to 127.0.0.2:\n%s", out)
	}
	if out := dig("lab.test", "A"); !strings.Contains(out, "status: NOERROR") {
		t.Errorf("address fault applied to 127.0.0.1:\n%s", out)
	}
}

func TestHTTPFaultsWithCurl(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	base := "http://" + d.Addr(t, "http", "tcp")
	set(t, d, faults.Fault{Service: "http", Kind: "status", Params: map[string]string{"path": "/echo"}})
	out := labtest.RunTool(t, "curl", "-si", base+"/echo")
	if !strings.HasPrefix(out, "HTTP/1.1 503") || !strings.Contains(out, "Retry-After: 30") {
		t.Errorf("503 fault:\n%s", out)
	}
	if out := labtest.RunTool(t, "curl", "-si", base+"/"); !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Errorf("a path outside the fault:\n%.200s", out)
	}
	// The teacher's dashboard is never affected.
	set(t, d, faults.Fault{Service: "http", Kind: "status", Params: map[string]string{"path": "/"}})
	if out := labtest.RunTool(t, "curl", "-si", base+"/labd/login"); !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Errorf("the dashboard got the fault:\n%.300s", out)
	}
	d.Deps.Faults.Clear(0)

	set(t, d, faults.Fault{Service: "http", Kind: "cut"})
	// curl reports the cut (exit 18, partial file): run it by hand.
	cmd := labtest.Tool(t, "curl")
	res, err := runExit(cmd, "-s", "-o", "/dev/null", "-w", "%{http_code}", base+"/ca.pem")
	if err == nil || !strings.Contains(res, "200") {
		t.Errorf("cut fault: curl should fail on a cut body: %q %v", res, err)
	}
	if n := notes(d, "http"); !strings.Contains(n, "response body cut") {
		t.Errorf("no note of the cut:\n%s", n)
	}
}

func TestFaultExpiresByItself(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	if _, err := d.Deps.Faults.Add(faults.Fault{Service: "dns", Kind: "drop"}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(d.Deps.Faults.List()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("fault still listed long after its end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := d.Deps.Faults.Match("dns", "drop", "", "127.0.0.1:1"); ok {
		t.Error("an ended fault still matches")
	}
}

// The TCP faults act on any TCP service: a reset after N bytes cuts an
// HTTP response (curl reports the reset), and only for the user or address
// it names.
func TestTCPResetWithCurl(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	base := "http://" + d.Addr(t, "http", "tcp")
	curl := labtest.Tool(t, "curl")
	set(t, d, faults.Fault{Service: faults.TCP, Kind: "reset", Addr: "127.0.0.1", Params: map[string]string{"bytes": "100"}})
	if out, err := runExit(curl, "-s", "-o", "/dev/null", base+"/ca.pem"); err == nil {
		t.Errorf("curl from 127.0.0.1 survived a reset after 100 bytes: %s", out)
	}
	if n := notes(d, "http"); !strings.Contains(n, "connection reset after 100 bytes") {
		t.Errorf("no note of the reset:\n%s", n)
	}
	// Another address of the class is not affected.
	if out, err := runExit(curl, "-s", "-o", "/dev/null", "--interface", "127.0.0.2", base+"/ca.pem"); err != nil {
		t.Errorf("curl from 127.0.0.2 was reset: %v %s", err, out)
	}
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: faults.TCP, Kind: "writedelay", Params: map[string]string{"ms": "1"}})
	labtest.RunTool(t, "curl", "-s", "-o", "/dev/null", base+"/ca.pem")
	if n := notes(d, "http"); !strings.Contains(n, "every write delayed 1ms") {
		t.Errorf("no note of the write delay:\n%s", n)
	}
}

// A TFTP transfer under the delay fault still completes, with the fault in
// its transcript.
func TestTFTPDelayWithAtftp(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	set(t, d, faults.Fault{Service: "tftp", Kind: "delay", Params: map[string]string{"ms": "20"}})
	dst := t.TempDir() + "/README.txt"
	labtest.RunTool(t, "atftp", "-g", "-r", "README.txt", "-l", dst, "127.0.0.1", labtest.Port(t, d.Addr(t, "tftp", "udp")))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(notes(d, "tftp"), "every DATA packet held back 20ms") {
		if time.Now().After(deadline) {
			t.Fatalf("no delay note in the TFTP transcript:\n%s", notes(d, "tftp"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Under the loss fault, curl still gets the whole file: the dropped ACKs
// cost timeouts and labd sends those blocks again, which the transcript
// counts. (atftp does not answer a repeated DATA block and resends its ACK
// only after its own timeout: with a tftp.timeout shorter than atftp's,
// labd gives up first; docs/faults.md says so.)
func TestTFTPLossWithCurl(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.TFTP.Timeout = config.Duration(time.Second) // the smallest: each loss costs one
	d := labtest.StartDaemon(t, cfg)
	data := bytes.Repeat([]byte("lossy link, lockstep protocol\n"), 700) // 21 KB: 41 blocks
	if err := os.WriteFile(filepath.Join(d.Deps.Layout.Pub(), "lossy.txt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	set(t, d, faults.Fault{Service: "tftp", Kind: "loss", Params: map[string]string{"percent": "15"}})
	dst := filepath.Join(t.TempDir(), "lossy.txt")
	labtest.RunTool(t, "curl", "-s", "-S", "-o", dst, "tftp://127.0.0.1:"+labtest.Port(t, d.Addr(t, "tftp", "udp"))+"/lossy.txt")
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file under loss: %d bytes, %v", len(got), err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := notes(d, "tftp")
		if strings.Contains(n, "packets reaching labd are dropped") && strings.Contains(n, "sent again after a timeout") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loss and the retransmissions are not in the transcript:\n%s", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Under the duplicate fault, tftp clients still get the file unchanged:
// a block received twice is acknowledged, not written twice.
func TestTFTPDuplicate(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	data := bytes.Repeat([]byte("once is enough\n"), 400) // 6 KB: 12 blocks
	if err := os.WriteFile(filepath.Join(d.Deps.Layout.Pub(), "twice.txt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	set(t, d, faults.Fault{Service: "tftp", Kind: "duplicate", Params: map[string]string{"percent": "100"}})
	port := labtest.Port(t, d.Addr(t, "tftp", "udp"))
	for _, get := range []func(dst string){
		func(dst string) {
			labtest.RunTool(t, "curl", "-s", "-S", "-o", dst, "tftp://127.0.0.1:"+port+"/twice.txt")
		},
		func(dst string) {
			labtest.RunTool(t, "atftp", "-g", "-r", "twice.txt", "-l", dst, "127.0.0.1", port)
		},
	} {
		dst := filepath.Join(t.TempDir(), "twice.txt")
		get(dst)
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("file under duplication: %d bytes, %v", len(got), err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(notes(d, "tftp"), "DATA blocks were sent twice") {
		if time.Now().After(deadline) {
			t.Fatalf("duplication not in the transcript:\n%s", notes(d, "tftp"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

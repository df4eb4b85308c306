package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"labd/internal/labtest"
)

// labPorts maps the lab profile's ports, as README.md writes them, to the
// listener table's keys of a test daemon (which binds ephemeral ports).
var labPorts = map[string]string{
	"10080": "http/tcp", "10025": "smtp/tcp", "10587": "submission/tcp", "10110": "pop3/tcp",
	"10143": "imap/tcp", "10053": "dns/udp", "10021": "ftp/tcp", "10069": "tftp/udp",
	"10022": "ssh/tcp", "10023": "telnet/tcp",
}

// readmeCommands returns the indented command block under the README's
// "How students connect" heading.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## How students connect")
	if !ok {
		t.Fatal("README.md has no \"How students connect\" section")
	}
	var cmds []string
	started := false
	for _, line := range strings.Split(rest, "\n")[1:] {
		if strings.HasPrefix(line, "    ") {
			started = true
			cmds = append(cmds, strings.TrimSpace(line))
			continue
		}
		if started && strings.TrimSpace(line) != "" {
			break
		}
		if started {
			break
		}
	}
	if len(cmds) < 5 {
		t.Fatalf("README's command block: %q", cmds)
	}
	return cmds
}

// Every student command of README.md that needs no person at the keyboard
// runs as written (ports mapped to the test daemon's) and succeeds.
func TestReadmeStudentCommands(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	port := regexp.MustCompile(`\b10\d\d\d\b`)
	dir := t.TempDir()
	for _, line := range readmeCommands(t) {
		if strings.Contains(line, "# interactive") {
			continue // nc, ftp, ssh, telnet: a person types there
		}
		prog := strings.Fields(line)[0]
		labtest.Tool(t, prog)
		cmd := port.ReplaceAllStringFunc(line, func(lab string) string {
			key, ok := labPorts[lab]
			if !ok {
				t.Fatalf("%s: unknown lab port %s", line, lab)
			}
			_, real, _ := net.SplitHostPort(p.addr(t, key))
			return real
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c := exec.CommandContext(ctx, "bash", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("README command failed: %s\n(ran %s)\n%v\n%s", line, cmd, err, out)
			continue
		}
		if len(strings.TrimSpace(string(out))) == 0 && prog != "tftp" {
			t.Errorf("README command printed nothing: %s", line)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
		t.Errorf("tftp get README.txt: %v", err)
	}
}

package main

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
)

// TestTranscriptMaskedByDefault: a POP3 password typed by a student does
// not appear in `labd sessions --transcript` unless --unmask is given.
func TestTranscriptMaskedByDefault(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	c, err := net.Dial("tcp", p.addr(t, "pop3/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	br.ReadString('\n')
	for _, cmd := range []string{"USER alice", "PASS s3cret-pw-xyz", "QUIT"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		br.ReadString('\n')
	}
	out, code := labd(t, "sessions", "--config", path)
	m := regexp.MustCompile(`(?m)^(\d+)\s+pop3\s`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("sessions: %d\n%s", code, out)
	}
	out, code = labd(t, "sessions", "--transcript", m[1], "--config", path)
	if code != 0 || strings.Contains(out, "s3cret-pw-xyz") || !strings.Contains(out, "C>  PASS ") || !strings.Contains(out, "USER alice") {
		t.Errorf("masked transcript: %d\n%s", code, out)
	}
	out, code = labd(t, "sessions", "--transcript", m[1], "--unmask", "--config", path)
	if code != 0 || !strings.Contains(out, "PASS s3cret-pw-xyz") {
		t.Errorf("unmasked transcript: %d\n%s", code, out)
	}
	// In French (the terminal's language): the headers and sentences are
	// translated, the IDs and ss's states are not.
	t.Setenv("LC_ALL", "fr_FR.UTF-8")
	out, code = labd(t, "sessions", "--config", path)
	if code != 0 || !strings.Contains(out, "UTILISATEUR") || !regexp.MustCompile(`(?m)^`+m[1]+`\s+pop3\s+CLOSED\s`).MatchString(out) {
		t.Errorf("sessions in French: %d\n%s", code, out)
	}
	out, code = labd(t, "sessions", "--transcript", m[1], "--config", path)
	if code != 0 || !strings.Contains(out, "session "+m[1]+"\u00a0: pop3 sur tcp") || !strings.Contains(out, "octets reçus") || !strings.Contains(out, "secrets masqués") {
		t.Errorf("transcript in French: %d\n%s", code, out)
	}
}

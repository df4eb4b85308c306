package services

import "testing"

// Each protocol is wired exactly once: a duplicate would bind its ports
// twice and fail at start.
func TestBuildersAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range All() {
		if seen[b.Name] {
			t.Errorf("service %s registered twice", b.Name)
		}
		seen[b.Name] = true
		if b.New == nil || b.Enabled == nil {
			t.Errorf("service %s lacks New or Enabled", b.Name)
		}
	}
	for _, want := range []string{"http", "dns", "ftp", "tftp", "telnet", "smtp", "pop3", "imap", "ssh"} {
		if !seen[want] {
			t.Errorf("service %s is not registered", want)
		}
	}
}

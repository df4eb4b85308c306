package journal

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// listen stands in for journald: a datagram socket the handler writes to.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.socket")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func read(t *testing.T, c *net.UnixConn) map[string]string {
	t.Helper()
	buf := make([]byte, 1<<16)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf[:n])
	if err != nil {
		t.Fatalf("%v in %q", err, buf[:n])
	}
	return f
}

func TestFieldsForJournalctl(t *testing.T) {
	sock, path := listen(t)
	h, err := New(path, "labd", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	log := slog.New(h).With("service", "smtp").With("remote", "127.0.0.1:4242")
	log.Warn("smtp login failed", "user", "alice", "session", 17, slog.Group("tls", "version", "1.3"), "message", "spoof")

	f := read(t, sock)
	want := map[string]string{
		"MESSAGE": "smtp login failed", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "labd",
		"SERVICE": "smtp", "REMOTE": "127.0.0.1:4242", "USER": "alice", "SESSION": "17",
		"TLS_VERSION": "1.3", "LABD_MESSAGE": "spoof",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, f[k], v, f)
		}
	}
}

func TestMultilineValueUsesBinaryForm(t *testing.T) {
	sock, path := listen(t)
	h, _ := New(path, "labd", slog.LevelInfo)
	defer h.Close()
	slog.New(h).Error("panic in handler", "stack", "line 1\nline 2\n")
	f := read(t, sock)
	if f["STACK"] != "line 1\nline 2\n" || f["PRIORITY"] != "3" {
		t.Errorf("fields: %q", f)
	}
	slog.New(h).Debug("below the level")
	slog.New(h).Info("next")
	if f := read(t, sock); f["MESSAGE"] != "next" {
		t.Errorf("debug record was sent: %v", f)
	}
}

func TestFieldNames(t *testing.T) {
	for in, want := range map[string]string{
		"remote": "REMOTE", "tls-version": "TLS_VERSION", "_SYSTEMD_UNIT": "SYSTEMD_UNIT",
		"9lives": "LIVES", "é": "", "PRIORITY": "LABD_PRIORITY",
	} {
		if got := fieldName([]string{in}); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStderrIsJournal(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	if StderrIsJournal() {
		t.Error("no JOURNAL_STREAM, yet journal")
	}
	t.Setenv("JOURNAL_STREAM", "1:2")
	if StderrIsJournal() {
		t.Error("a JOURNAL_STREAM for another file, yet journal")
	}
}

// FuzzParse: the decoder of the native protocol never panics, and what
// appendField writes decodes to the same value.
func FuzzParse(f *testing.F) {
	f.Add([]byte("MESSAGE=hi\nPRIORITY=6\n"), "a\nb")
	f.Add([]byte("STACK\n\x03\x00\x00\x00\x00\x00\x00\x00a\nb\n"), "")
	f.Fuzz(func(t *testing.T, p []byte, v string) {
		Parse(p)
		got, err := Parse(appendField(nil, "VALUE", v))
		if err != nil || got["VALUE"] != v {
			t.Fatalf("round trip of %q: %q, %v", v, got["VALUE"], err)
		}
	})
}

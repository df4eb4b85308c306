package smtp

import (
	"crypto/tls"
	"net"
	"testing"
)

type writeRecorder struct {
	net.Conn
	writes []string
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// go-smtp writes a multi-line reply line by line; it must leave in one
// write (sslscan --starttls-smtp reads the EHLO reply with one read and
// otherwise concludes STARTTLS is missing).
func TestMultiLineReplyOneWrite(t *testing.T) {
	rec := &writeRecorder{}
	c := newLineConn(rec, false, &tls.Config{}, 0, "lab.test", nil)
	for _, l := range []string{"250-lab.test Hello\r\n", "250-PIPELINING\r\n", "250-8BITMIME\r\n", "250 SMTPUTF8\r\n", "250 2.0.0 OK\r\n"} {
		if n, err := c.Write([]byte(l)); n != len(l) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", l, n, err)
		}
	}
	want := []string{"250-lab.test Hello\r\n250-STARTTLS\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n", "250 2.0.0 OK\r\n"}
	if len(rec.writes) != len(want) || rec.writes[0] != want[0] || rec.writes[1] != want[1] {
		t.Errorf("writes %q, want %q", rec.writes, want)
	}
}

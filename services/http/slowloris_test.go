package http_test

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"

	"labd/config"
	"labd/internal/labtest"
)

// TestSlowClientsCutOff: with the lazily armed deadlines (deadline.go),
// a client that trickles its request, or sits on a connection, is still
// closed by http.read_timeout and http.idle_timeout, on a new connection
// and on a keep-alive one after an answered request. The client keeps
// trickling for far longer than the timeouts; the test only asks that the
// server hangs up before it is done.
func TestSlowClientsCutOff(t *testing.T) {
	cfg := labtest.Config(t)
	cfg.HTTP.ReadTimeout = config.Duration(time.Second)
	cfg.HTTP.IdleTimeout = config.Duration(time.Second)
	e := startWith(t, labtest.Deps(t, cfg))
	const chunked = "POST /echo HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name string
		// first is sent (and its answer read) before the slow part.
		first bool
		// tls: to the HTTPS port (the TLS handshake is what waits).
		tls bool
		// head is sent at once, then trickle one byte at a time.
		head, trickle string
	}{
		{name: "silent new connection"},
		{name: "silent HTTPS connection", tls: true},
		{name: "slow TLS hello", tls: true, trickle: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + string(make([]byte, 200))},
		{name: "slow headers", trickle: "GET / HTTP/1.1\r\nHost: lab\r\nX-Slow: " + string(make([]byte, 200))},
		{name: "slow chunked body", head: chunked, trickle: "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n1\r\nf\r\n1\r\ng\r\n1\r\nh\r\n1\r\ni\r\n1\r\nj\r\n1\r\nk\r\n1\r\nl\r\n1\r\nm\r\n1\r\nn\r\n1\r\no\r\n1\r\np\r\n1\r\nq\r\n1\r\nr\r\n1\r\ns\r\n1\r\nt\r\n"},
		{name: "idle keep-alive", first: true},
		{name: "slow headers after a request", first: true, trickle: "GET / HTTP/1.1\r\nHost: lab\r\nX-Slow: " + string(make([]byte, 200))},
		{name: "slow body after a request", first: true, head: chunked, trickle: "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n1\r\nf\r\n1\r\ng\r\n1\r\nh\r\n1\r\ni\r\n1\r\nj\r\n1\r\nk\r\n1\r\nl\r\n1\r\nm\r\n1\r\nn\r\n1\r\no\r\n1\r\np\r\n1\r\nq\r\n1\r\nr\r\n1\r\ns\r\n1\r\nt\r\n"},
	}
	// The trickle lasts about 12 s (zero bytes of the header value are
	// bytes like any other), far beyond the 1 s timeouts.
	const every = 50 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := e.plain
			if tc.tls {
				addr = e.secure
			}
			c := labtest.Dial(t, addr)
			br := bufio.NewReader(c)
			if tc.first {
				io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: lab\r\n\r\n")
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			closed := make(chan time.Time, 1)
			go func() {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				io.Copy(io.Discard, br)
				closed <- time.Now()
			}()
			began := time.Now()
			io.WriteString(c, tc.head)
			tr := tc.trickle
			if tr == "" {
				tr = string(make([]byte, 240)) // nothing sent: only the clock
			}
			for i := 0; i < len(tr); i++ {
				select {
				case at := <-closed:
					if d := at.Sub(began); d > 8*time.Second {
						t.Errorf("closed after %v", d)
					}
					return
				case <-time.After(every):
				}
				if tc.trickle != "" {
					if _, err := c.Write([]byte{tr[i]}); err != nil {
						return // reset by the server: cut off
					}
				}
			}
			t.Errorf("still open after %v of a trickle (read and idle timeouts 1 s)", time.Since(began))
		})
	}
}

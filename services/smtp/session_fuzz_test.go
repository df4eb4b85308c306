package smtp_test

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"labd/internal/labtest"
	smtpsvc "labd/services/smtp"
)

// smtpStates drive a session into each state before the fuzzed input;
// kind is the go-smtp server (port 25 or submission).
var smtpStates = []struct {
	kind  string
	steps []labtest.Step
}{
	{"smtp", nil}, // connected
	{"smtp", []labtest.Step{{Send: "EHLO fuzz\r\n", Expect: "250 "}}},
	{"smtp", []labtest.Step{{Send: "EHLO fuzz\r\n", Expect: "250 "}, {Send: "MAIL FROM:<a@example.com>\r\n", Expect: "250 "}, {Send: "RCPT TO:<alice@lab.test>\r\n", Expect: "250 "}}},                        // in a transaction
	{"smtp", []labtest.Step{{Send: "HELO fuzz\r\n", Expect: "250 "}, {Send: "MAIL FROM:<>\r\n", Expect: "250 "}, {Send: "RCPT TO:<alice@lab.test>\r\n", Expect: "250 "}, {Send: "DATA\r\n", Expect: "354 "}}}, // in DATA
	{"submission", []labtest.Step{{Send: "EHLO fuzz\r\n", Expect: "250 "}, {Send: "AUTH PLAIN AGFsaWNlAGFsaWNl\r\n", Expect: "235 "}}},                                                                        // authenticated
	{"submission", []labtest.Step{{Send: "EHLO fuzz\r\n", Expect: "250 "}, {Send: "AUTH LOGIN\r\n", Expect: "334 "}}},                                                                                         // in SASL
}

// FuzzSession is the SMTP line filter in front of go-smtp, as a whole
// session over a net.Pipe, the way mox fuzzes its SMTP server: driven
// into a state, fed the input, then ".", QUIT; it must answer and close,
// never hang or panic (go-smtp's and the filter's recovered panics count).
func FuzzSession(f *testing.F) {
	for st := range smtpStates {
		for _, in := range []string{
			"MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
			"HELP\nVRFY alice\nBDAT 5 LAST\nEXPN x\nRSET\nNOOP\n\n",
			"mail\tfrom:<a@b> \r\r\nrcpt to:<postmaster>\r\n",
			"AUTH PLAIN\r\n*\r\nAUTH LOGIN YWxpY2U=\r\nYWxpY2U=\r\n",
			"STARTTLS\r\n", "x\r\ny\r\nz\r\nw\r\nv\r\nu\r\nt\r\ns\r\nr\r\nq\r\np\r\n",
		} {
			f.Add(uint8(st), []byte(in))
		}
	}
	cfg := labtest.Config(f)
	cfg.SMTP.RequireTLSForAuth = false
	deps, panics := labtest.FuzzDeps(f, cfg)
	svc, err := smtpsvc.NewService(deps)
	if err != nil {
		f.Fatal(err)
	}
	svc.AuthFailDelay = 0
	servers := map[string]labtest.Session{}
	for _, kind := range []string{"smtp", "submission"} {
		l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
		served := make(chan error, 1)
		go func() { served <- svc.ServeListener(kind, l) }()
		f.Cleanup(func() { l.Close(); <-served })
		servers[kind] = labtest.Session{Serve: l.serve, Greeting: "220 ", Bye: "\r\n.\r\nQUIT\r\n", MustClose: true, Panics: panics}
	}
	f.Fuzz(func(t *testing.T, state uint8, input []byte) {
		if len(input) > 1<<14 {
			return
		}
		st := smtpStates[int(state)%len(smtpStates)]
		s := servers[st.kind]
		// After STARTTLS the server rightly waits for a TLS handshake,
		// not for QUIT: then the client hangs up and the server must notice.
		s.MustClose = !bytes.Contains(bytes.ToUpper(input), []byte("STARTTLS"))
		s.Run(t, st.steps, input)
	})
}

// pipeListener hands go-smtp the server ends of net.Pipes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// serve hands c to the server and returns once the server closed it.
func (l *pipeListener) serve(c net.Conn) {
	pc := &pipeConn{Conn: c, closed: make(chan struct{})}
	select {
	case l.conns <- pc:
		<-pc.closed
	case <-l.done:
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }

// pipeConn has a TCP remote address (the session checks relay networks)
// and says when it is closed.
type pipeConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *pipeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *pipeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }

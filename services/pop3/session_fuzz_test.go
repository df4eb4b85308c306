package pop3_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"labd/internal/labtest"
	pop3svc "labd/services/pop3"
)

// pop3States drive a session into each state before the fuzzed input.
var pop3States = [][]labtest.Step{
	{}, // AUTHORIZATION, nothing sent
	{{Send: "USER alice\r\n", Expect: "+OK"}},                                                                               // USER given, PASS expected
	{{Send: "USER alice\r\n", Expect: "+OK"}, {Send: "PASS alice\r\n", Expect: "+OK"}},                                      // TRANSACTION
	{{Send: "USER alice\r\n", Expect: "+OK"}, {Send: "PASS alice\r\n", Expect: "+OK"}, {Send: "DELE 1\r\n", Expect: "+OK"}}, // a deletion pending
	{{Send: "AUTH PLAIN\r\n", Expect: "+ "}},                                                                                // SASL: the input is the response
}

// FuzzSession is the POP3 session state machine under fuzzed input, the
// way mox fuzzes its SMTP server: the server, on one end of a net.Pipe, is
// driven into a state, then fed the input and QUIT; it must answer and
// close, never hang or panic.
func FuzzSession(f *testing.F) {
	for st := range pop3States {
		for _, in := range []string{"STAT\r\nLIST\r\nRETR 1\r\nTOP 1 0\r\nUIDL\r\nRSET", "USER bob\nPASS bob\nDELE 1\nDELE 1\nRETR 99999999999", "AGFsaWNlAGFsaWNl", "*", "STLS", "CAPA\r\nNOOP\r\n\r\nAPOP x y\r\nxyz"} {
			f.Add(uint8(st), []byte(in))
		}
	}
	cfg := labtest.Config(f)
	cfg.POP3.RequireTLSForAuth = false
	deps, panics := labtest.FuzzDeps(f, cfg)
	svc, err := pop3svc.NewService(deps)
	if err != nil {
		f.Fatal(err)
	}
	svc.AuthFailDelay = 0
	sess := labtest.Session{Serve: svc.Handle, Greeting: "+OK labd POP3 server ready", Bye: "\r\nQUIT\r\n", MustClose: true, Panics: panics}
	f.Fuzz(func(t *testing.T, state uint8, input []byte) {
		if len(input) > 1<<14 {
			return
		}
		st := pop3States[int(state)%len(pop3States)]
		if len(st) == 3 && count(t, deps, "alice") == 0 {
			if err := deps.Store.Deliver(context.Background(), []string{"alice"}, []byte("Subject: fuzz\r\n\r\nhello\r\n"), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		s := sess
		// After STLS the server rightly waits for a TLS handshake, not
		// for QUIT: then the client hangs up and the server must notice.
		s.MustClose = !bytes.Contains(bytes.ToUpper(input), []byte("STLS"))
		s.Run(t, st, input)
	})
}

package telnet_test

import (
	"testing"

	"labd/internal/labtest"
	"labd/services/telnet"
)

// telnetStates drive a session into each state before the fuzzed input.
var telnetStates = [][]labtest.Step{
	{}, // at login:
	{{Send: "alice\r\n", Expect: "Password: "}},                                        // at Password:
	{{Send: "alice\r\n", Expect: "Password: "}, {Send: "alice\r\n", Expect: "alice@"}}, // in the lab shell
}

// FuzzSession is the Telnet session (NVT, login, lab shell) under fuzzed
// input over a net.Pipe: no panic, and when the client hangs up the
// server ends the session, whatever the input started.
func FuzzSession(f *testing.F) {
	for st := range telnetStates {
		for _, in := range []string{
			"ls -l\r\npwd\r\necho hi > f\r\ncat f\r\n",
			"\xff\xfd\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0help\r\n",
			"\xff\xf4\xff\xf6\x03\x04\x1b[A\x7f\r\x00exit\r\n",
			"bob\r\nbob\r\nmail\r\n",
		} {
			f.Add(uint8(st), []byte(in))
		}
	}
	cfg := labtest.Config(f)
	deps, panics := labtest.FuzzDeps(f, cfg)
	s, err := telnet.New(deps)
	if err != nil {
		f.Fatal(err)
	}
	svc := s.(*telnet.Service)
	svc.NegotiationWait = 0 // the fuzzer answers no option: line mode at once
	svc.FailDelay = 0
	sess := labtest.Session{Serve: svc.Handle, Greeting: "login: ", Bye: "\r\n", Panics: panics}
	f.Fuzz(func(t *testing.T, state uint8, input []byte) {
		if len(input) > 1<<12 {
			return
		}
		sess.Run(t, telnetStates[int(state)%len(telnetStates)], input)
	})
}

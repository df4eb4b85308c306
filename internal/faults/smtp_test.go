package faults_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"labd/internal/faults"
	"labd/internal/labtest"
)

func inboxCount(t *testing.T, d *labtest.Daemon, user string) int {
	t.Helper()
	ctx := context.Background()
	mb, err := d.Deps.Store.Mailbox(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := d.Deps.Store.Messages(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

func TestSMTPFaultsWithSwaks(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	swaksPath := labtest.Tool(t, "swaks")
	server := d.Addr(t, "smtp", "tcp")
	swaks := func() (string, error) {
		return runExit(swaksPath, "--server", server, "--from", "alice@lab.test", "--to", "bob@lab.test",
			"--header", "Subject: fault lesson", "--timeout", "20")
	}

	// Greylisting: the first attempt gets 451, a retry after the delay is
	// accepted, and the message is stored once.
	g := set(t, d, faults.Fault{Service: "smtp", Kind: "greylist", Params: map[string]string{"delay": "1s"}})
	out, err := swaks()
	if err == nil || !strings.Contains(out, "<** 451 4.7.1") || !strings.Contains(out, "Greylisted") {
		t.Fatalf("first attempt under greylisting should get 451: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err = swaks()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retry never accepted:\n%s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := inboxCount(t, d, "bob"); n != 1 {
		t.Errorf("bob has %d messages after greylisting, want 1", n)
	}
	if n := notes(d, "smtp"); !strings.Contains(n, "greylisted") || !strings.Contains(n, "greylist passed") {
		t.Errorf("greylisting not in the transcripts:\n%s", n)
	}
	d.Deps.Faults.Clear(g.ID)

	// 451 after DATA stores nothing; the retry once cleared stores it once.
	f := set(t, d, faults.Fault{Service: "smtp", Kind: "tempfail", Params: map[string]string{"stage": "data"}})
	if out, err := swaks(); err == nil || !strings.Contains(out, "<** 451") {
		t.Errorf("tempfail after DATA: %v\n%s", err, out)
	}
	if n := inboxCount(t, d, "bob"); n != 1 {
		t.Errorf("a refused DATA was stored: bob has %d", n)
	}
	d.Deps.Faults.Clear(f.ID)

	set(t, d, faults.Fault{Service: "smtp", Kind: "tempfail", Params: map[string]string{"stage": "connect", "code": "421"}})
	if out, err := swaks(); err == nil || !strings.Contains(out, "421 4.3.2") {
		t.Errorf("421 at connect: %v\n%s", err, out)
	}
	// A per-user fault spares the rest of the class: alice's submission
	// gets 452 at RCPT, a fault scoped to bob does not touch her.
	d.Deps.Faults.Clear(0)
	set(t, d, faults.Fault{Service: "smtp", Kind: "tempfail", User: "bob", Params: map[string]string{"code": "452"}})
	sub := d.Addr(t, "submission", "tcp")
	submit := func(user string) (string, error) {
		return runExit(swaksPath, "--server", sub, "--auth", "PLAIN", "--auth-user", user, "--auth-password", user,
			"--from", user+"@lab.test", "--to", "alice@lab.test", "--timeout", "20")
	}
	if out, err := submit("bob"); err == nil || !strings.Contains(out, "<** 452") {
		t.Errorf("bob's fault: %v\n%s", err, out)
	}
	if out, err := submit("alice"); err != nil {
		t.Errorf("alice got bob's fault: %v\n%s", err, out)
	}
}

package exercises_test

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"labd/internal/exercises"
	"labd/internal/labtest"
)

func status(d *labtest.Daemon, user, ex string) exercises.Entry {
	d.Deps.Exercises.Wait()
	for _, e := range d.Deps.Exercises.Snapshot().Entries {
		if e.User == user && e.Exercise == ex {
			return e
		}
	}
	return exercises.Entry{Status: "not-started"}
}

// waitStatus polls until the sessions a client just closed are evaluated.
func waitStatus(t *testing.T, d *labtest.Daemon, user, ex, want string) exercises.Entry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e := status(d, user, ex)
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %s (%s), want %s", user, ex, e.Status, e.Missing, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nc typed line by line: each line is sent after the server's reply, as a
// student at a terminal does (nc sends bare LF line ends).
func ncSMTP(t *testing.T, addr string, lines []string) {
	t.Helper()
	host, port := "127.0.0.1", labtest.Port(t, addr)
	cmd := exec.Command(labtest.Tool(t, "nc"), host, port)
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	br := bufio.NewReader(outp)
	reply := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("nc: %v", err)
			}
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	reply() // greeting
	for _, l := range lines {
		io.WriteString(in, l+"\n")
		if l == "DATA" || strings.HasPrefix(l, "HELO") || strings.HasPrefix(l, "MAIL") || strings.HasPrefix(l, "RCPT") || l == "." || l == "QUIT" {
			reply()
		}
	}
	in.Close()
}

func TestSMTPByHandWithNcNotSwaks(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	addr := d.Addr(t, "smtp", "tcp")
	ncSMTP(t, addr, []string{"HELO alice", "MAIL FROM:<alice@lab.test>", "RCPT TO:<bob@lab.test>", "DATA", "Subject: by hand", "", "hello bob", ".", "QUIT"})
	waitStatus(t, d, "alice", "smtp-by-hand", "done")
	if e := status(d, "bob", "smtp-by-hand"); e.Status != "not-started" {
		t.Errorf("bob (the recipient) got the exercise: %+v", e)
	}
	// swaks sends the same dialogue as a program: started, not done.
	labtest.RunTool(t, "swaks", "--server", addr, "--from", "bob@lab.test", "--to", "alice@lab.test")
	e := waitStatus(t, d, "bob", "smtp-by-hand", "started")
	if !strings.Contains(e.Missing, "sent by a program") || !strings.Contains(e.MissingIn("fr"), "envoyées par un programme\u202f; tapez-les") {
		t.Errorf("bob's hint: %q / %q", e.Missing, e.MissingFR)
	}
	// The same by hand on 587 does not count for port 25.
	ncSMTP(t, d.Addr(t, "submission", "tcp"), []string{"QUIT"})
}

func TestAttributionByAddressNeverGuesses(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	web := "http://" + d.Addr(t, "http", "tcp")
	port := labtest.Port(t, d.Addr(t, "dns", "udp"))
	// Basic authentication: 401 without credentials, then 200 with them.
	labtest.RunTool(t, "curl", "-s", web+"/auth")
	labtest.RunTool(t, "curl", "-s", "-u", "alice:alice", web+"/auth")
	waitStatus(t, d, "alice", "http-basic-auth", "done")
	// alice alone is logged in from 127.0.0.1: the MX query is hers.
	labtest.RunTool(t, "dig", "@127.0.0.1", "-p", port, "lab.test", "MX")
	waitStatus(t, d, "alice", "dns-mx", "done")

	// bob logs in from the same address: a second MX query belongs to
	// nobody for sure, and is listed for the teacher.
	labtest.RunTool(t, "curl", "-s", "-u", "bob:bob", web+"/auth")
	labtest.RunTool(t, "dig", "@127.0.0.1", "-p", port, "lab.test", "MX")
	deadline := time.Now().Add(20 * time.Second)
	for {
		d.Deps.Exercises.Wait()
		if len(d.Deps.Exercises.Snapshot().Unattributed) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shared-address query was not listed as unattributed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e := status(d, "bob", "dns-mx"); e.Status == "done" {
		t.Error("bob got the exercise by guess")
	}
	// The teacher assigns it in one click.
	u := d.Deps.Exercises.Snapshot().Unattributed[0]
	if !d.Deps.Exercises.Assign(u.Session, u.Exercise, "bob") || status(d, "bob", "dns-mx").Status != "done" {
		t.Error("assign failed")
	}
}

func TestFTPActiveAndTFTPBinary(t *testing.T) {
	d := labtest.StartDaemon(t, labtest.Config(t))
	url := "ftp://alice:alice@127.0.0.1:" + labtest.Port(t, d.Addr(t, "ftp", "tcp")) + "/"
	labtest.RunTool(t, "curl", "-s", url)
	e := waitStatus(t, d, "alice", "ftp-active", "started")
	if !strings.Contains(e.Missing, "passive mode was used") || !strings.Contains(e.MissingIn("fr"), "le mode passif a été utilisé") {
		t.Errorf("passive near miss hint: %q / %q", e.Missing, e.MissingFR)
	}
	labtest.RunTool(t, "curl", "-s", "-P", "127.0.0.1", url)
	waitStatus(t, d, "alice", "ftp-active", "done")

	labtest.RunTool(t, "atftp", "-g", "-r", "README.txt", "-l", t.TempDir()+"/r", "127.0.0.1", labtest.Port(t, d.Addr(t, "tftp", "udp")))
	// alice alone is logged in from 127.0.0.1 (her FTP sessions).
	waitStatus(t, d, "alice", "tftp-binary", "done")
}

// runInput runs a client with the given standard input and returns its
// standard output.
func runInput(name, stdin string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	return string(out), err
}

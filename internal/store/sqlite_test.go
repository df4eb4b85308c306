package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func open(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path, Options{BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) *SQLite {
	s := open(t, filepath.Join(t.TempDir(), "labd.db"))
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u, u, false); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func mustMailbox(t *testing.T, s *SQLite, u, n string) Mailbox {
	m, err := s.Mailbox(context.Background(), u, n)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAcknowledgedSurvivesKill9 runs a child process that delivers in a
// loop and prints each UID once Deliver returned, kills it with SIGKILL
// mid-stream, and checks every acknowledged message is in the database.
func TestAcknowledgedSurvivesKill9(t *testing.T) {
	if os.Getenv("LABD_STORE_CHILD") != "" {
		childDeliver(os.Getenv("LABD_STORE_CHILD"))
		return
	}
	db := filepath.Join(t.TempDir(), "labd.db")
	s, err := OpenSQLite(db, Options{BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	s.CreateUser(context.Background(), "alice", "alice", false)
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedSurvivesKill9$")
	cmd.Env = append(os.Environ(), "LABD_STORE_CHILD="+db)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := map[int]bool{}
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
		if err != nil {
			continue
		}
		acked[n] = true
		if len(acked) == 150 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if len(acked) < 150 {
		t.Fatalf("child acknowledged only %d deliveries", len(acked))
	}
	s = open(t, db)
	in := mustMailbox(t, s, "alice", "INBOX")
	msgs, _ := s.Messages(context.Background(), in.ID)
	have := map[int]bool{}
	for _, m := range msgs {
		have[int(m.UID)] = true
	}
	for n := range acked {
		if !have[n] {
			t.Errorf("acknowledged uid %d lost after kill -9", n)
		}
	}
}

func childDeliver(db string) {
	s, err := OpenSQLite(db, Options{BcryptCost: 4})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for {
		_, uid, err := s.Append(ctx, "alice", "INBOX", []byte("Subject: x\r\n\r\nbody\r\n"), nil, time.Time{})
		if err != nil {
			fmt.Println("err:", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", uid)
	}
}

// An unknown user's login must cost what a wrong password costs, or timing
// tells which names exist: the dummy hash has the cost of real ones, for the
// configured cost and for the default.
func TestDummyHashCostMatchesRealHashes(t *testing.T) {
	ctx := context.Background()
	for _, cost := range []int{0, 4, 5} {
		s, err := OpenSQLite(filepath.Join(t.TempDir(), "labd.db"), Options{BcryptCost: cost})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateUser(ctx, "alice", "alice", false); err != nil {
			t.Fatal(err)
		}
		var hash string
		if err := s.db.QueryRow(`SELECT hash FROM users WHERE name = 'alice'`).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		real, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			t.Fatal(err)
		}
		dummy, err := bcrypt.Cost(s.dummyHash)
		if err != nil {
			t.Fatal(err)
		}
		if dummy != real {
			t.Errorf("BcryptCost %d: dummy hash cost %d, real hash cost %d", cost, dummy, real)
		}
	}
}

func TestPasswordsStoredHashed(t *testing.T) {
	s := newStore(t)
	var hash string
	if err := s.db.QueryRow(`SELECT hash FROM users WHERE name = 'bob'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	// A bcrypt hash of the password, not the password: the salt is random
	// and may spell "bob" by chance, so check the hash, not its letters.
	if !strings.HasPrefix(hash, "$2") || hash == "bob" || bcrypt.CompareHashAndPassword([]byte(hash), []byte("bob")) != nil {
		t.Errorf("password not stored as a bcrypt hash of itself: %q", hash)
	}
}

// A write whose error made SQLite roll back the whole transaction (disk
// full, I/O error) fails with its own error, not "no such savepoint", and
// the store goes on.
func TestGroupCommitAfterAutomaticRollback(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "labd.db"))
	errFull := errors.New("database or disk is full")
	err := s.groupWrite(context.Background(), func(ctx context.Context, tx *Tx, emit func(Event)) error {
		if _, err := tx.Exec("ROLLBACK"); err != nil { // what SQLite does on SQLITE_FULL
			t.Fatal(err)
		}
		return errFull
	})
	if !errors.Is(err, errFull) || strings.Contains(err.Error(), "savepoint") {
		t.Fatalf("error after an automatic rollback: %v", err)
	}
	if err := s.CreateUser(context.Background(), "carol", "pw", false); err != nil {
		t.Fatalf("the store after a rolled back batch: %v", err)
	}
}

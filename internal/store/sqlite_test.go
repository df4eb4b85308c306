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
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
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

func TestUsers(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.CreateUser(ctx, "Alice", "x", false); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate (case-insensitive) user: %v", err)
	}
	if err := s.CreateUser(ctx, "../etc", "x", false); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name accepted: %v", err)
	}
	if _, err := s.Authenticate(ctx, "test", "ALICE", "alice"); err != nil {
		t.Errorf("login with name in capitals: %v", err)
	}
	for _, c := range [][2]string{{"alice", "bob"}, {"nobody", "x"}, {"alice", ""}} {
		if _, err := s.Authenticate(ctx, "test", c[0], c[1]); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrAuthFailed", c[0], c[1], err)
		}
	}
	if err := s.SetPassword(ctx, "alice", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "test", "alice", "new"); err != nil {
		t.Errorf("new password refused: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("passwd of missing user: %v", err)
	}
	if err := s.SetAdmin(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "bob"); !u.Admin {
		t.Error("bob not admin")
	}
	// Passwords are stored hashed.
	var hash string
	s.db.QueryRow(`SELECT hash FROM users WHERE name = 'bob'`).Scan(&hash)
	if !strings.HasPrefix(hash, "$2") || strings.Contains(hash, "bob") {
		t.Errorf("password not stored as a bcrypt hash: %q", hash)
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if mbs, _ := s.Mailboxes(ctx, "bob"); len(mbs) != 0 {
		t.Errorf("mailboxes of deleted user remain: %v", mbs)
	}
	users, _ := s.ListUsers(ctx)
	if len(users) != 1 || users[0].Name != "alice" {
		t.Errorf("users: %v", users)
	}
}

func TestKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	pub, _, _ := ed25519Key(t)
	line := string(ssh.MarshalAuthorizedKey(pub))
	if err := s.AddKey(ctx, "alice", line+" # comment"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, "alice", line); !errors.Is(err, ErrExists) {
		t.Errorf("same key twice: %v", err)
	}
	if err := s.AddKey(ctx, "alice", "ssh-ed25519 garbage"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad key: %v", err)
	}
	if err := s.AddKey(ctx, "nobody", line); !errors.Is(err, ErrNotFound) {
		t.Errorf("key for missing user: %v", err)
	}
	keys, _ := s.Keys(ctx, "alice")
	if len(keys) != 1 || strings.TrimSpace(line) != keys[0] {
		t.Errorf("keys: %q", keys)
	}
}

func TestMailboxesAndMessages(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mbs, err := s.Mailboxes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	special := map[string]string{}
	for _, m := range mbs {
		special[m.Name] = m.SpecialUse
	}
	if len(mbs) != 5 || special["Sent"] != `\Sent` || special["Trash"] != `\Trash` {
		t.Errorf("default mailboxes: %v", special)
	}
	if err := s.Deliver(ctx, []string{"alice", "bob"}, []byte("Subject: one\r\n\r\nbody\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.Mailbox(ctx, "alice", "inbox")
	if inbox.Messages != 1 || inbox.Unseen != 1 || inbox.UIDNext != 2 {
		t.Errorf("inbox after delivery: %+v", inbox)
	}
	_, uid2, err := s.Append(ctx, "alice", "INBOX", []byte("Subject: two\r\n\r\n"), []string{`\Seen`, "$Label1"}, time.Time{})
	if err != nil || uid2 != 2 {
		t.Fatalf("append: uid %d err %v", uid2, err)
	}
	msgs, _ := s.StoreFlags(ctx, inbox.ID, []uint32{1, 2}, FlagsAdd, []string{`\Flagged`})
	if len(msgs) != 2 || strings.Join(msgs[1].Flags, " ") != `$Label1 \Flagged \Seen` {
		t.Errorf("flags after add: %+v", msgs)
	}
	s.StoreFlags(ctx, inbox.ID, []uint32{2}, FlagsRemove, []string{`\seen`})
	s.StoreFlags(ctx, inbox.ID, []uint32{1}, FlagsSet, []string{`\Deleted`})
	list, _ := s.Messages(ctx, inbox.ID)
	if strings.Join(list[0].Flags, " ") != `\Deleted` || strings.Join(list[1].Flags, " ") != `$Label1 \Flagged` {
		t.Errorf("flags: %+v", list)
	}
	dst, pairs, err := s.Copy(ctx, inbox.ID, []uint32{2}, "alice", "Trash")
	if err != nil || len(pairs) != 1 || pairs[0] != (CopiedUID{2, 1}) || dst.Messages != 1 {
		t.Errorf("copy: %+v %+v %v", dst, pairs, err)
	}
	gone, _ := s.Expunge(ctx, inbox.ID, nil)
	if len(gone) != 1 || gone[0] != 1 {
		t.Errorf("expunge of \\Deleted: %v", gone)
	}
	if _, _, err := s.Move(ctx, inbox.ID, []uint32{2}, "alice", "Archive"); !errors.Is(err, ErrNotFound) {
		t.Errorf("move to missing mailbox: %v", err)
	}
	s.CreateMailbox(ctx, "alice", "Archive", "")
	_, pairs, err = s.Move(ctx, inbox.ID, []uint32{2}, "alice", "Archive")
	if err != nil || len(pairs) != 1 {
		t.Fatalf("move: %v", err)
	}
	if in, _ := s.Mailbox(ctx, "alice", "INBOX"); in.Messages != 0 || in.UIDNext != 3 {
		t.Errorf("inbox after move: %+v", in)
	}
	body, _ := s.Body(ctx, mustMailbox(t, s, "alice", "Archive").ID, pairs[0].Dst)
	if string(body) != "Subject: two\r\n\r\n" {
		t.Errorf("moved body: %q", body)
	}
}

func mustMailbox(t *testing.T, s *SQLite, u, n string) Mailbox {
	m, err := s.Mailbox(context.Background(), u, n)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRenameAndUIDValidity(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := s.CreateMailbox(ctx, "alice", "Work", "")
	s.CreateMailbox(ctx, "alice", "Work/2026", "")
	if err := s.RenameMailbox(ctx, "alice", "Work", "Job"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mailbox(ctx, "alice", "Job/2026"); err != nil {
		t.Errorf("child not renamed: %v", err)
	}
	s.DeleteMailbox(ctx, "alice", "Job")
	b, _ := s.CreateMailbox(ctx, "alice", "Job", "")
	if b.UIDValidity == a.UIDValidity {
		t.Error("a re-created mailbox reuses a UIDVALIDITY")
	}
	if err := s.DeleteMailbox(ctx, "alice", "INBOX"); !errors.Is(err, ErrInvalid) {
		t.Errorf("INBOX deleted: %v", err)
	}
	// RFC 3501: renaming INBOX moves its messages and leaves it empty.
	s.Deliver(ctx, []string{"alice"}, []byte("x\r\n"), time.Time{})
	if err := s.RenameMailbox(ctx, "alice", "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if in := mustMailbox(t, s, "alice", "INBOX"); in.Messages != 0 {
		t.Errorf("INBOX not emptied: %+v", in)
	}
	if old := mustMailbox(t, s, "alice", "Old"); old.Messages != 1 {
		t.Errorf("Old: %+v", old)
	}
}

func TestEventsInCommitOrder(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	cancel := s.Subscribe(func(e Event) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s:%s:%d:%v", e.Kind, e.Mailbox, e.UID, e.Origin))
		mu.Unlock()
	})
	defer cancel()
	s.Deliver(ctx, []string{"alice"}, []byte("a\r\n"), time.Time{})
	in := mustMailbox(t, s, "alice", "INBOX")
	s.StoreFlags(WithOrigin(ctx, "imap-7"), in.ID, []uint32{1}, FlagsAdd, []string{`\Seen`})
	s.Expunge(ctx, in.ID, []uint32{1})
	want := []string{"added:INBOX:1:<nil>", "flags:INBOX:1:imap-7", "expunged:INBOX:1:<nil>"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := s.Deliver(ctx, []string{"alice", "bob"}, []byte(fmt.Sprintf("Subject: %d\r\n\r\n", i)), time.Time{}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Mailboxes(ctx, "alice"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	in := mustMailbox(t, s, "alice", "INBOX")
	msgs, _ := s.Messages(ctx, in.ID)
	if len(msgs) != 200 || msgs[199].UID != 200 || in.UIDNext != 201 {
		t.Errorf("after 200 concurrent deliveries: %d messages, last uid %d, uidnext %d", len(msgs), msgs[len(msgs)-1].UID, in.UIDNext)
	}
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

// A subscriber that panics (an IMAP tracker, say) must not stop the store:
// the write that triggered it is committed and answered, later writes too.
func TestPanickingSubscriberDoesNotBlockWrites(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var calls int
	cancel := s.Subscribe(func(Event) {
		calls++
		if calls == 1 {
			panic("tracker out of range")
		}
	})
	defer cancel()
	done := make(chan error, 2)
	go func() {
		done <- s.Deliver(ctx, []string{"alice"}, []byte("a\r\n"), time.Time{})
		done <- s.Deliver(ctx, []string{"alice"}, []byte("b\r\n"), time.Time{})
	}()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("store writes blocked after a subscriber panicked")
		}
	}
	if in := mustMailbox(t, s, "alice", "INBOX"); in.Messages != 2 {
		t.Errorf("%d messages, want 2", in.Messages)
	}
}

// A writer whose client hung up gets its context's error; the others
// sharing the batch do not notice.
func TestCancelledWriterAloneFails(t *testing.T) {
	s := newStore(t)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Deliver(cctx, []string{"alice"}, []byte("x\r\n"), time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
	if err := s.Deliver(context.Background(), []string{"alice"}, []byte("y\r\n"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if in := mustMailbox(t, s, "alice", "INBOX"); in.Messages != 1 {
		t.Errorf("%d messages, want 1", in.Messages)
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

// Renaming takes every child along and only the children, whatever the
// names' alphabet: byte and character counts differ for Été.
func TestRenameNonASCIIChildren(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		create   []string
		from, to string
		want     []string
	}{
		{"non-ASCII parent", []string{"Été", "Été/Juin", "Été/Juin/Semaine 1", "Étés"}, "Été", "Summer",
			[]string{"Summer", "Summer/Juin", "Summer/Juin/Semaine 1", "Étés"}},
		{"non-ASCII target", []string{"Work", "Work/2026"}, "Work", "Année",
			[]string{"Année", "Année/2026"}},
		{"non-ASCII child", []string{"Été/Juin", "Été/Juin/Jour", "Été/Juillet"}, "Été/Juin", "Été/Août",
			[]string{"Été/Août", "Été/Août/Jour", "Été/Juillet"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			for _, n := range c.create {
				if _, err := s.CreateMailbox(ctx, "alice", n, ""); err != nil && !errors.Is(err, ErrExists) {
					t.Fatal(err)
				}
			}
			if err := s.RenameMailbox(ctx, "alice", c.from, c.to); err != nil {
				t.Fatal(err)
			}
			for _, n := range c.want {
				if _, err := s.Mailbox(ctx, "alice", n); err != nil {
					t.Errorf("after renaming %s to %s: %v", c.from, c.to, err)
				}
			}
			all, _ := s.Mailboxes(ctx, "alice")
			for _, m := range all {
				if m.Name == c.from || strings.HasPrefix(m.Name, c.from+"/") {
					t.Errorf("mailbox %s left behind by the rename", m.Name)
				}
			}
		})
	}
}

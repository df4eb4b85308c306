package labtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"labd/config"
	"labd/internal/authguard"
	"labd/internal/service"
	"labd/internal/store"
)

// DownStore is a store whose database can be switched off: while Down,
// every user and mail method fails with store.ErrUnavailable, as the real
// backends do when PostgreSQL is gone or SQLite's disk fails. Protocol
// tests use it to check that each command answers a temporary failure.
type DownStore struct {
	store.Store
	down atomic.Bool
}

// SetDown switches the database off (true) or back on.
func (s *DownStore) SetDown(down bool) { s.down.Store(down) }

func (s *DownStore) fail() error {
	if s.down.Load() {
		return fmt.Errorf("%w: the test stopped the database", store.ErrUnavailable)
	}
	return nil
}

// DepsWithDownStore is Deps whose store (and the login guard reading it)
// is a DownStore around the real one.
func DepsWithDownStore(t testing.TB, cfg *config.Config) (service.Deps, *DownStore) {
	t.Helper()
	d := Deps(t, cfg)
	ds := &DownStore{Store: d.Store}
	d.Store = ds
	d.Guard = authguard.New(ds, authguard.Options{}, Logger(t))
	return d, ds
}

func (s *DownStore) CreateUser(ctx context.Context, name, password string, admin bool) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, name, password, admin)
}

func (s *DownStore) DeleteUser(ctx context.Context, name string) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.DeleteUser(ctx, name)
}

func (s *DownStore) SetPassword(ctx context.Context, name, password string) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.SetPassword(ctx, name, password)
}

func (s *DownStore) SetAdmin(ctx context.Context, name string, admin bool) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.SetAdmin(ctx, name, admin)
}

func (s *DownStore) User(ctx context.Context, name string) (store.User, error) {
	if err := s.fail(); err != nil {
		return store.User{}, err
	}
	return s.Store.User(ctx, name)
}

func (s *DownStore) ListUsers(ctx context.Context) ([]store.User, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.ListUsers(ctx)
}

func (s *DownStore) Authenticate(ctx context.Context, protocol, name, password string) (store.User, error) {
	if err := s.fail(); err != nil {
		return store.User{}, err
	}
	return s.Store.Authenticate(ctx, protocol, name, password)
}

func (s *DownStore) AddKey(ctx context.Context, name, authorizedKey string) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.AddKey(ctx, name, authorizedKey)
}

func (s *DownStore) Keys(ctx context.Context, name string) ([]string, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Keys(ctx, name)
}

func (s *DownStore) Mailboxes(ctx context.Context, user string) ([]store.Mailbox, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Mailboxes(ctx, user)
}

func (s *DownStore) Mailbox(ctx context.Context, user, name string) (store.Mailbox, error) {
	if err := s.fail(); err != nil {
		return store.Mailbox{}, err
	}
	return s.Store.Mailbox(ctx, user, name)
}

func (s *DownStore) CreateMailbox(ctx context.Context, user, name, specialUse string) (store.Mailbox, error) {
	if err := s.fail(); err != nil {
		return store.Mailbox{}, err
	}
	return s.Store.CreateMailbox(ctx, user, name, specialUse)
}

func (s *DownStore) DeleteMailbox(ctx context.Context, user, name string) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.DeleteMailbox(ctx, user, name)
}

func (s *DownStore) RenameMailbox(ctx context.Context, user, oldName, newName string) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.RenameMailbox(ctx, user, oldName, newName)
}

func (s *DownStore) SetSubscribed(ctx context.Context, user, name string, subscribed bool) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.SetSubscribed(ctx, user, name, subscribed)
}

func (s *DownStore) Append(ctx context.Context, user, mailbox string, raw []byte, flags []string, date time.Time) (store.Mailbox, uint32, error) {
	if err := s.fail(); err != nil {
		return store.Mailbox{}, 0, err
	}
	return s.Store.Append(ctx, user, mailbox, raw, flags, date)
}

func (s *DownStore) Deliver(ctx context.Context, users []string, raw []byte, date time.Time) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Deliver(ctx, users, raw, date)
}

func (s *DownStore) Messages(ctx context.Context, mailboxID int64) ([]store.Message, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Messages(ctx, mailboxID)
}

func (s *DownStore) Body(ctx context.Context, mailboxID int64, uid uint32) ([]byte, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Body(ctx, mailboxID, uid)
}

func (s *DownStore) Bodies(ctx context.Context, mailboxID int64, uids []uint32) (map[uint32][]byte, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Bodies(ctx, mailboxID, uids)
}

func (s *DownStore) StoreFlags(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string) ([]store.Message, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.StoreFlags(ctx, mailboxID, uids, op, flags)
}

func (s *DownStore) Expunge(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Expunge(ctx, mailboxID, uids)
}

func (s *DownStore) Copy(ctx context.Context, srcID int64, uids []uint32, user, dst string) (store.Mailbox, []store.CopiedUID, error) {
	if err := s.fail(); err != nil {
		return store.Mailbox{}, nil, err
	}
	return s.Store.Copy(ctx, srcID, uids, user, dst)
}

func (s *DownStore) Move(ctx context.Context, srcID int64, uids []uint32, user, dst string) (store.Mailbox, []store.CopiedUID, error) {
	if err := s.fail(); err != nil {
		return store.Mailbox{}, nil, err
	}
	return s.Store.Move(ctx, srcID, uids, user, dst)
}

var _ store.Store = (*DownStore)(nil)

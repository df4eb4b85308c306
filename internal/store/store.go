// Package store is labd's one database: users (with password hashes, admin
// flag and SSH keys), mailboxes and messages. Every protocol reads and
// writes through it, so that a mail accepted by SMTP is at once in POP3, IMAP
// and the lab shell.
//
// Store is the interface; DB implements it on SQLite (modernc.org/sqlite,
// no cgo; one host) or on PostgreSQL (pgx; several lab hosts on one
// database, see docs/scale-out.md). Consumers should
// declare the smaller interface they need where they use it.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers can test with errors.Is.
var (
	ErrNotFound   = errors.New("not found")
	ErrExists     = errors.New("already exists")
	ErrAuthFailed = errors.New("authentication failed")
	ErrInvalid    = errors.New("invalid")
)

// User is one lab user.
type User struct {
	Name    string
	Admin   bool
	Created time.Time
}

// Mailbox is one folder of a user's mail.
type Mailbox struct {
	ID          int64
	User        string
	Name        string
	UIDValidity uint32
	UIDNext     uint32
	// SpecialUse is "", or an RFC 6154 attribute such as `\Sent`.
	SpecialUse string
	Subscribed bool
	Messages   int
	Unseen     int
	Size       int64
}

// Message is a message's metadata; Body returns its bytes.
type Message struct {
	UID          uint32
	Flags        []string
	InternalDate time.Time
	Size         int64
}

// FlagOp says how StoreFlags changes flags.
type FlagOp int

const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// CopiedUID pairs a source UID with its UID in the destination mailbox.
type CopiedUID struct {
	Src, Dst uint32
}

// EventKind says what changed.
type EventKind int

const (
	MessageAdded EventKind = iota + 1
	FlagsChanged
	MessageExpunged
	MailboxCreated
	MailboxDeleted
	MailboxRenamed
	// The user events carry only User: what changed is read from the
	// store by whoever cares (a password hash never travels in the log).
	UserAdded
	UserChanged // password or admin flag
	UserRemoved
	KeysChanged
)

func (k EventKind) String() string {
	switch k {
	case MessageAdded:
		return "added"
	case FlagsChanged:
		return "flags"
	case MessageExpunged:
		return "expunged"
	case MailboxCreated:
		return "mailbox-created"
	case MailboxDeleted:
		return "mailbox-deleted"
	case MailboxRenamed:
		return "mailbox-renamed"
	case UserAdded:
		return "user-added"
	case UserChanged:
		return "user-changed"
	case UserRemoved:
		return "user-removed"
	case KeysChanged:
		return "keys-changed"
	}
	return "unknown"
}

// Event is one committed change. Events of one store are delivered to each
// subscriber in commit order, synchronously, one at a time: a subscriber
// must not block and must not call back into the store's write methods.
type Event struct {
	Kind      EventKind
	User      string
	MailboxID int64
	Mailbox   string // for MailboxRenamed, the new name
	OldName   string // for MailboxRenamed
	UID       uint32
	Flags     []string // for MessageAdded and FlagsChanged: the new flags
	Size      int64
	// Origin is the value given to WithOrigin by the writer, so that an IMAP
	// session can tell its own changes from those of others. It does not
	// cross hosts: another host's events have none.
	Origin any `json:"-"`
}

type originKey struct{}

// WithOrigin marks writes made with ctx, see Event.Origin.
func WithOrigin(ctx context.Context, origin any) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) any { return ctx.Value(originKey{}) }

// Users is the user database.
type Users interface {
	CreateUser(ctx context.Context, name, password string, admin bool) error
	DeleteUser(ctx context.Context, name string) error
	SetPassword(ctx context.Context, name, password string) error
	SetAdmin(ctx context.Context, name string, admin bool) error
	User(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// Authenticate checks a password; protocol names the service asking,
	// for logs and per-protocol policy. It returns ErrAuthFailed for an
	// unknown user or a wrong password alike.
	Authenticate(ctx context.Context, protocol, name, password string) (User, error)
	// AddKey stores an SSH public key in authorized_keys format.
	AddKey(ctx context.Context, name, authorizedKey string) error
	Keys(ctx context.Context, name string) ([]string, error)
}

// Mail is the mailbox store.
type Mail interface {
	Mailboxes(ctx context.Context, user string) ([]Mailbox, error)
	Mailbox(ctx context.Context, user, name string) (Mailbox, error)
	CreateMailbox(ctx context.Context, user, name, specialUse string) (Mailbox, error)
	DeleteMailbox(ctx context.Context, user, name string) error
	// RenameMailbox renames a mailbox and everything below it (name + "/").
	// Renaming INBOX moves its messages to the new mailbox and leaves
	// INBOX empty, as RFC 3501 says.
	RenameMailbox(ctx context.Context, user, oldName, newName string) error
	SetSubscribed(ctx context.Context, user, name string, subscribed bool) error

	// Append stores a message in one mailbox and returns its UID.
	Append(ctx context.Context, user, mailbox string, raw []byte, flags []string, date time.Time) (Mailbox, uint32, error)
	// Deliver stores one copy of raw in the INBOX of each user, all in one
	// transaction: when it returns nil, every copy is committed.
	Deliver(ctx context.Context, users []string, raw []byte, date time.Time) error

	// Messages lists a mailbox in UID order.
	Messages(ctx context.Context, mailboxID int64) ([]Message, error)
	Body(ctx context.Context, mailboxID int64, uid uint32) ([]byte, error)
	// Bodies reads the raw messages of uids at once (a message expunged
	// meanwhile is missing from the map). It holds them all in memory:
	// callers bound how many (and how large) they ask for.
	Bodies(ctx context.Context, mailboxID int64, uids []uint32) (map[uint32][]byte, error)
	StoreFlags(ctx context.Context, mailboxID int64, uids []uint32, op FlagOp, flags []string) ([]Message, error)
	// Expunge removes the given UIDs, or with uids nil every message
	// flagged \Deleted, and returns the UIDs removed in ascending order.
	Expunge(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error)
	Copy(ctx context.Context, srcID int64, uids []uint32, user, dst string) (Mailbox, []CopiedUID, error)
	Move(ctx context.Context, srcID int64, uids []uint32, user, dst string) (Mailbox, []CopiedUID, error)
}

// Store is everything.
type Store interface {
	Users
	Mail
	// Subscribe calls fn for every committed change until cancel is called.
	Subscribe(fn func(Event)) (cancel func())
	Close() error
}

// DefaultMailboxes are created for every new user, with their RFC 6154
// special-use attributes, so that Thunderbird finds Sent and Trash.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
}

// CommitObserver is told of every commit of the store's writes: how long
// the transaction took, from its start to the end of its commit, and how
// many writers shared it (group commit, on both backends). It is called
// on the committing goroutine, so it must be quick (a metrics histogram).
type CommitObserver interface {
	Commit(d time.Duration, writers int)
}

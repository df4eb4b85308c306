package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	hash    TEXT NOT NULL,
	admin   INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ssh_keys (
	id          INTEGER PRIMARY KEY,
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	UNIQUE(user_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS mailboxes (
	-- AUTOINCREMENT: a deleted mailbox's ID is never given to another,
	-- so that a view keyed by ID cannot outlive its mailbox.
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	uidnext     INTEGER NOT NULL,
	special_use TEXT NOT NULL DEFAULT '',
	subscribed  INTEGER NOT NULL DEFAULT 1,
	UNIQUE(user_id, name)
);
CREATE TABLE IF NOT EXISTS messages (
	id            INTEGER PRIMARY KEY,
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	flags         TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	body          BLOB NOT NULL,
	UNIQUE(mailbox_id, uid)
);
`

// SQLite is the embedded store.
type SQLite struct {
	db *sql.DB
	// Writes are group-committed: concurrent writers queue their work, one
	// of them (the leader) runs the whole queue in one transaction, each
	// writer's work in its own savepoint, and commits once. With
	// synchronous=FULL a commit costs an fsync, so eight SMTP clients
	// share one fsync instead of waiting for eight. Only the leader
	// writes, so there is no SQLITE_BUSY between our own goroutines, and
	// events leave in exactly commit order.
	wmu      sync.Mutex // guards queue, leading, closed
	queue    []*writeReq
	leading  bool
	commitMu sync.Mutex // held by the leader while it commits
	smu      sync.Mutex
	subs     map[int]func(Event)
	next     int
	// cost is the bcrypt cost of new password hashes.
	cost   int
	closed bool
}

// Options tune OpenSQLite.
type Options struct {
	// BcryptCost defaults to bcrypt.DefaultCost; tests lower it.
	BcryptCost int
}

// OpenSQLite opens (creating if needed) the database at path.
func OpenSQLite(path string, opts Options) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: an acknowledged write (SMTP 250, IMAP OK) is on disk, not
	// only in the WAL's page cache, before the client hears of it.
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: create schema: %w", path, err)
	}
	cost := opts.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return &SQLite{db: db, subs: map[int]func(Event){}, cost: cost}, nil
}

// Close closes the database; the WAL is checkpointed.
func (s *SQLite) Close() error {
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return nil
	}
	s.closed = true
	s.wmu.Unlock()
	// Let a commit in progress (and the queue behind it) finish.
	for {
		s.commitMu.Lock()
		s.wmu.Lock()
		idle := !s.leading && len(s.queue) == 0
		s.wmu.Unlock()
		if idle {
			break
		}
		s.commitMu.Unlock()
		time.Sleep(time.Millisecond)
	}
	defer s.commitMu.Unlock()
	_, _ = s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return s.db.Close()
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store is closed")

// Subscribe implements Store.
func (s *SQLite) Subscribe(fn func(Event)) func() {
	s.smu.Lock()
	id := s.next
	s.next++
	s.subs[id] = fn
	s.smu.Unlock()
	return func() {
		s.smu.Lock()
		delete(s.subs, id)
		s.smu.Unlock()
	}
}

type writeReq struct {
	ctx    context.Context
	fn     func(ctx context.Context, tx *sql.Tx, emit func(Event)) error
	events []Event
	err    error
	done   chan error
}

// write runs fn in a write transaction and returns once it is committed
// (or failed). After commit, the events fn emitted are published in commit
// order.
func (s *SQLite) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, emit func(Event)) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, r)
	lead := !s.leading
	s.leading = true
	s.wmu.Unlock()
	if lead {
		s.lead()
	}
	return <-r.done
}

// lead commits one batch (which holds the leader's own request: it was
// queued before anyone led), then hands the lead to a new goroutine if more
// work queued meanwhile, so that the leader's own client is answered at
// once rather than after everybody else's batches.
func (s *SQLite) lead() {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.wmu.Lock()
	batch := s.queue
	s.queue = nil
	s.wmu.Unlock()
	if len(batch) > 0 {
		s.commitBatch(batch)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(s.queue) > 0 {
		go s.lead()
		return
	}
	s.leading = false
}

func (s *SQLite) commitBatch(batch []*writeReq) {
	answered := 0
	fail := func(err error) {
		for _, r := range batch[answered:] {
			r.done <- err
		}
		answered = len(batch)
	}
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("begin transaction: %w", err))
		return
	}
	// A panic in a write must not leave the transaction open (it holds
	// SQLite's write lock) nor its writers waiting for ever.
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			fail(fmt.Errorf("store write failed: %v", p))
		}
	}()
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err != nil {
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		// Without cancellation: the driver interrupts a statement whose
		// context ends, which would abort the whole shared transaction
		// because one client hung up.
		ctx := context.WithoutCancel(r.ctx)
		origin := originOf(ctx)
		r.err = r.fn(ctx, tx, func(e Event) { e.Origin = origin; r.events = append(r.events, e) })
		if r.err != nil {
			r.events = nil
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("roll back a failed write: %w", err))
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	s.smu.Lock()
	subs := make([]func(Event), 0, len(s.subs))
	for _, fn := range s.subs {
		subs = append(subs, fn)
	}
	s.smu.Unlock()
	for _, r := range batch {
		for _, e := range r.events {
			for _, fn := range subs {
				publish(fn, e)
			}
		}
		r.done <- r.err
		answered++
	}
}

// publish calls one subscriber; its panic is its own problem, not the
// writers' nor the other subscribers'.
func publish(fn func(Event), e Event) {
	defer func() { _ = recover() }()
	fn(e)
}

// --- users ---

var validName = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,31}$`)

// NormalizeUser lowercases a user name; mail addresses and logins are
// case-insensitive in the lab.
func NormalizeUser(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CheckUserName says why a name cannot be a user name, or nil.
func CheckUserName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w user name %q: use 1 to 32 lowercase letters, digits, '.', '_' or '-', starting with a letter", ErrInvalid, name)
	}
	return nil
}

func (s *SQLite) CreateUser(ctx context.Context, name, password string, admin bool) error {
	name = NormalizeUser(name)
	if err := CheckUserName(name); err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("%w: empty password", ErrInvalid)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users(name, hash, admin, created) VALUES(?,?,?,?) ON CONFLICT(name) DO NOTHING`,
			name, string(hash), admin, time.Now().Unix())
		if err != nil {
			return fmt.Errorf("create user %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", name, ErrExists)
		}
		uid, _ := res.LastInsertId()
		for _, mb := range DefaultMailboxes {
			m, err := createMailbox(ctx, tx, uid, name, mb.Name, mb.SpecialUse)
			if err != nil {
				return err
			}
			emit(Event{Kind: MailboxCreated, User: name, MailboxID: m.ID, Mailbox: m.Name})
		}
		return nil
	})
}

func (s *SQLite) DeleteUser(ctx context.Context, name string) error {
	name = NormalizeUser(name)
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		return nil
	})
}

func (s *SQLite) SetPassword(ctx context.Context, name, password string) error {
	name = NormalizeUser(name)
	if password == "" {
		return fmt.Errorf("%w: empty password", ErrInvalid)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.updateUser(ctx, name, `UPDATE users SET hash = ? WHERE name = ?`, string(hash), name)
}

func (s *SQLite) SetAdmin(ctx context.Context, name string, admin bool) error {
	name = NormalizeUser(name)
	return s.updateUser(ctx, name, `UPDATE users SET admin = ? WHERE name = ?`, admin, name)
}

func (s *SQLite) updateUser(ctx context.Context, name, query string, args ...any) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(Event)) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("update user %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		return nil
	})
}

func (s *SQLite) User(ctx context.Context, name string) (User, error) {
	name = NormalizeUser(name)
	var u User
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT name, admin, created FROM users WHERE name = ?`, name).Scan(&u.Name, &u.Admin, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", name, err)
	}
	u.Created = time.Unix(created, 0)
	return u, nil
}

func (s *SQLite) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, admin, created FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.Name, &u.Admin, &created); err != nil {
			return nil, err
		}
		u.Created = time.Unix(created, 0)
		out = append(out, u)
	}
	return out, rows.Err()
}

// dummyHash makes a login for an unknown user cost as much as a wrong
// password, so that timing does not tell which names exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("labd-dummy"), bcrypt.MinCost)

func (s *SQLite) Authenticate(ctx context.Context, protocol, name, password string) (User, error) {
	name = NormalizeUser(name)
	var u User
	var hash string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT name, hash, admin, created FROM users WHERE name = ?`, name).Scan(&u.Name, &hash, &u.Admin, &created)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, ErrAuthFailed
	}
	if err != nil {
		return User{}, fmt.Errorf("%s login for %s: %w", protocol, name, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return User{}, ErrAuthFailed
	}
	u.Created = time.Unix(created, 0)
	return u, nil
}

func (s *SQLite) AddKey(ctx context.Context, name, authorizedKey string) error {
	name = NormalizeUser(name)
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return fmt.Errorf("%w SSH public key: %v", ErrInvalid, err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	fp := ssh.FingerprintSHA256(pk)
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(Event)) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("user %s: %w", name, ErrNotFound)
			}
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO ssh_keys(user_id, key, fingerprint) VALUES(?,?,?) ON CONFLICT DO NOTHING`, id, line, fp)
		if err != nil {
			return fmt.Errorf("add key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("key %s of %s: %w", fp, name, ErrExists)
		}
		return nil
	})
}

func (s *SQLite) Keys(ctx context.Context, name string) ([]string, error) {
	name = NormalizeUser(name)
	rows, err := s.db.QueryContext(ctx, `SELECT k.key FROM ssh_keys k JOIN users u ON u.id = k.user_id WHERE u.name = ? ORDER BY k.id`, name)
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// --- mailboxes ---

// normMailbox makes INBOX case-insensitive, as RFC 3501 requires.
func normMailbox(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX/" + name[6:]
	}
	return name
}

// nextUIDValidity returns a UIDVALIDITY never used before in this
// database: a mailbox deleted and created again must not reuse one.
func nextUIDValidity(ctx context.Context, tx *sql.Tx) (uint32, error) {
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'uidvalidity'`).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	v := time.Now().Unix() & 0x7fffffff
	if v <= last {
		v = last + 1
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES('uidvalidity', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, v)
	return uint32(v), err
}

func createMailbox(ctx context.Context, tx *sql.Tx, userID int64, user, name, specialUse string) (Mailbox, error) {
	uv, err := nextUIDValidity(ctx, tx)
	if err != nil {
		return Mailbox{}, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO mailboxes(user_id, name, uidvalidity, uidnext, special_use) VALUES(?,?,?,1,?) ON CONFLICT DO NOTHING`,
		userID, name, uv, specialUse)
	if err != nil {
		return Mailbox{}, fmt.Errorf("create mailbox %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", name, ErrExists)
	}
	id, _ := res.LastInsertId()
	return Mailbox{ID: id, User: user, Name: name, UIDValidity: uv, UIDNext: 1, SpecialUse: specialUse, Subscribed: true}, nil
}

func userID(ctx context.Context, q queryer, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return id, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const mailboxCols = `m.id, u.name, m.name, m.uidvalidity, m.uidnext, m.special_use, m.subscribed,
	(SELECT count(*) FROM messages WHERE mailbox_id = m.id),
	(SELECT count(*) FROM messages WHERE mailbox_id = m.id AND (' ' || flags || ' ') NOT LIKE '% \Seen %'),
	(SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = m.id)`

func scanMailbox(sc interface{ Scan(...any) error }) (Mailbox, error) {
	var m Mailbox
	err := sc.Scan(&m.ID, &m.User, &m.Name, &m.UIDValidity, &m.UIDNext, &m.SpecialUse, &m.Subscribed, &m.Messages, &m.Unseen, &m.Size)
	return m, err
}

// refCols are a mailbox's own columns, without the counts: what write
// transactions need. Counting the messages of a 10,000-message INBOX for
// every delivery would make each delivery as slow as the mailbox is big.
const refCols = `m.id, u.name, m.name, m.uidvalidity, m.uidnext, m.special_use, m.subscribed`

func scanRef(sc interface{ Scan(...any) error }) (Mailbox, error) {
	var m Mailbox
	err := sc.Scan(&m.ID, &m.User, &m.Name, &m.UIDValidity, &m.UIDNext, &m.SpecialUse, &m.Subscribed)
	return m, err
}

func mailboxRef(ctx context.Context, q queryer, user, name string) (Mailbox, error) {
	m, err := scanRef(q.QueryRowContext(ctx, `SELECT `+refCols+` FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE u.name = ? AND m.name = ?`, user, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, fmt.Errorf("mailbox %s of %s: %w", name, user, ErrNotFound)
	}
	return m, err
}

func mailboxRefByID(ctx context.Context, q queryer, id int64) (Mailbox, error) {
	m, err := scanRef(q.QueryRowContext(ctx, `SELECT `+refCols+` FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE m.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, fmt.Errorf("mailbox %d: %w", id, ErrNotFound)
	}
	return m, err
}

func getMailbox(ctx context.Context, q queryer, user, name string) (Mailbox, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE u.name = ? AND m.name = ?`, user, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, fmt.Errorf("mailbox %s of %s: %w", name, user, ErrNotFound)
	}
	return m, err
}

func (s *SQLite) Mailboxes(ctx context.Context, user string) ([]Mailbox, error) {
	user = NormalizeUser(user)
	rows, err := s.db.QueryContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE u.name = ? ORDER BY m.name`, user)
	if err != nil {
		return nil, fmt.Errorf("mailboxes of %s: %w", user, err)
	}
	defer rows.Close()
	var out []Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *SQLite) Mailbox(ctx context.Context, user, name string) (Mailbox, error) {
	return getMailbox(ctx, s.db, NormalizeUser(user), normMailbox(name))
}

func (s *SQLite) CreateMailbox(ctx context.Context, user, name, specialUse string) (Mailbox, error) {
	user, name = NormalizeUser(user), normMailbox(name)
	if name == "" {
		return Mailbox{}, fmt.Errorf("%w: empty mailbox name", ErrInvalid)
	}
	var m Mailbox
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		id, err := userID(ctx, tx, user)
		if err != nil {
			return err
		}
		m, err = createMailbox(ctx, tx, id, user, name, specialUse)
		if err != nil {
			return err
		}
		emit(Event{Kind: MailboxCreated, User: user, MailboxID: m.ID, Mailbox: name})
		return nil
	})
	return m, err
}

func (s *SQLite) DeleteMailbox(ctx context.Context, user, name string) error {
	user, name = NormalizeUser(user), normMailbox(name)
	if name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrInvalid)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		m, err := mailboxRef(ctx, tx, user, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE id = ?`, m.ID); err != nil {
			return fmt.Errorf("delete mailbox %s: %w", name, err)
		}
		emit(Event{Kind: MailboxDeleted, User: user, MailboxID: m.ID, Mailbox: name})
		return nil
	})
}

func (s *SQLite) RenameMailbox(ctx context.Context, user, oldName, newName string) error {
	user, oldName, newName = NormalizeUser(user), normMailbox(oldName), normMailbox(newName)
	if newName == "" || newName == "INBOX" {
		return fmt.Errorf("%w: cannot rename to %q", ErrInvalid, newName)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		src, err := mailboxRef(ctx, tx, user, oldName)
		if err != nil {
			return err
		}
		if _, err := mailboxRef(ctx, tx, user, newName); err == nil {
			return fmt.Errorf("mailbox %s: %w", newName, ErrExists)
		}
		if oldName == "INBOX" {
			// RFC 3501 6.3.5: the messages move to a new mailbox, INBOX
			// stays and is empty.
			dst, err := createMailbox(ctx, tx, mustUserID(ctx, tx, user), user, newName, "")
			if err != nil {
				return err
			}
			emit(Event{Kind: MailboxCreated, User: user, MailboxID: dst.ID, Mailbox: newName})
			uids, err := allUIDs(ctx, tx, src.ID)
			if err != nil {
				return err
			}
			if _, err := copyMessages(ctx, tx, src.ID, uids, dst, emit); err != nil {
				return err
			}
			return expunge(ctx, tx, src, uids, emit)
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.id, m.name FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE u.name = ? AND (m.name = ? OR substr(m.name, 1, ?) = ?)`,
			user, oldName, len(oldName)+1, oldName+"/")
		if err != nil {
			return err
		}
		type ren struct {
			id       int64
			from, to string
		}
		var todo []ren
		for rows.Next() {
			var r ren
			if err := rows.Scan(&r.id, &r.from); err != nil {
				rows.Close()
				return err
			}
			r.to = newName + strings.TrimPrefix(r.from, oldName)
			todo = append(todo, r)
		}
		rows.Close()
		for _, r := range todo {
			if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, r.to, r.id); err != nil {
				return fmt.Errorf("rename %s: %w", r.from, err)
			}
			emit(Event{Kind: MailboxRenamed, User: user, MailboxID: r.id, Mailbox: r.to, OldName: r.from})
		}
		return nil
	})
}

func mustUserID(ctx context.Context, tx *sql.Tx, user string) int64 {
	id, _ := userID(ctx, tx, user)
	return id
}

func (s *SQLite) SetSubscribed(ctx context.Context, user, name string, subscribed bool) error {
	user, name = NormalizeUser(user), normMailbox(name)
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(Event)) error {
		m, err := mailboxRef(ctx, tx, user, name)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET subscribed = ? WHERE id = ?`, subscribed, m.ID)
		return err
	})
}

// --- messages ---

func joinFlags(flags []string) string {
	seen := map[string]bool{}
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" || f == `\Recent` || seen[strings.ToLower(f)] {
			continue
		}
		seen[strings.ToLower(f)] = true
		out = append(out, f)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func splitFlags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

func insertMessage(ctx context.Context, tx *sql.Tx, m Mailbox, raw []byte, flags string, date time.Time, emit func(Event)) (uint32, error) {
	var uid uint32
	if err := tx.QueryRowContext(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1 WHERE id = ? RETURNING uidnext - 1`, m.ID).Scan(&uid); err != nil {
		return 0, fmt.Errorf("allocate uid in %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO messages(mailbox_id, uid, flags, internal_date, size, body) VALUES(?,?,?,?,?,?)`,
		m.ID, uid, flags, date.UnixNano(), len(raw), raw); err != nil {
		return 0, fmt.Errorf("store message in %s: %w", m.Name, err)
	}
	emit(Event{Kind: MessageAdded, User: m.User, MailboxID: m.ID, Mailbox: m.Name, UID: uid, Flags: splitFlags(flags), Size: int64(len(raw))})
	return uid, nil
}

func (s *SQLite) Append(ctx context.Context, user, mailbox string, raw []byte, flags []string, date time.Time) (Mailbox, uint32, error) {
	user, mailbox = NormalizeUser(user), normMailbox(mailbox)
	if date.IsZero() {
		date = time.Now()
	}
	var m Mailbox
	var uid uint32
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		var err error
		if m, err = mailboxRef(ctx, tx, user, mailbox); err != nil {
			return err
		}
		uid, err = insertMessage(ctx, tx, m, raw, joinFlags(flags), date, emit)
		return err
	})
	return m, uid, err
}

func (s *SQLite) Deliver(ctx context.Context, users []string, raw []byte, date time.Time) error {
	if date.IsZero() {
		date = time.Now()
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		for _, u := range users {
			m, err := mailboxRef(ctx, tx, NormalizeUser(u), "INBOX")
			if err != nil {
				return err
			}
			if _, err := insertMessage(ctx, tx, m, raw, "", date, emit); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *SQLite) Messages(ctx context.Context, mailboxID int64) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uid, flags, internal_date, size FROM messages WHERE mailbox_id = ? ORDER BY uid`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var flags string
		var date int64
		if err := rows.Scan(&m.UID, &flags, &date, &m.Size); err != nil {
			return nil, err
		}
		m.Flags = splitFlags(flags)
		m.InternalDate = time.Unix(0, date)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *SQLite) Body(ctx context.Context, mailboxID int64, uid uint32) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT body FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, uid).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message uid %d: %w", uid, ErrNotFound)
	}
	return b, err
}

func (s *SQLite) StoreFlags(ctx context.Context, mailboxID int64, uids []uint32, op FlagOp, flags []string) ([]Message, error) {
	var out []Message
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		m, err := mailboxRefByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			var cur string
			var msg Message
			var date int64
			err := tx.QueryRowContext(ctx, `SELECT flags, internal_date, size FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, uid).Scan(&cur, &date, &msg.Size)
			if errors.Is(err, sql.ErrNoRows) {
				continue // expunged meanwhile: nothing to change
			}
			if err != nil {
				return err
			}
			next := applyFlags(splitFlags(cur), op, flags)
			if next != cur {
				if _, err := tx.ExecContext(ctx, `UPDATE messages SET flags = ? WHERE mailbox_id = ? AND uid = ?`, next, mailboxID, uid); err != nil {
					return err
				}
				emit(Event{Kind: FlagsChanged, User: m.User, MailboxID: mailboxID, Mailbox: m.Name, UID: uid, Flags: splitFlags(next)})
			}
			msg.UID, msg.Flags, msg.InternalDate = uid, splitFlags(next), time.Unix(0, date)
			out = append(out, msg)
		}
		return nil
	})
	return out, err
}

func applyFlags(cur []string, op FlagOp, flags []string) string {
	switch op {
	case FlagsSet:
		return joinFlags(flags)
	case FlagsAdd:
		return joinFlags(append(cur, flags...))
	default:
		drop := map[string]bool{}
		for _, f := range flags {
			drop[strings.ToLower(f)] = true
		}
		keep := cur[:0:0]
		for _, f := range cur {
			if !drop[strings.ToLower(f)] {
				keep = append(keep, f)
			}
		}
		return joinFlags(keep)
	}
}

func allUIDs(ctx context.Context, tx *sql.Tx, mailboxID int64) ([]uint32, error) {
	rows, err := tx.QueryContext(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid`, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func expunge(ctx context.Context, tx *sql.Tx, m Mailbox, uids []uint32, emit func(Event)) error {
	for _, uid := range uids {
		res, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid = ?`, m.ID, uid)
		if err != nil {
			return fmt.Errorf("expunge uid %d: %w", uid, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			emit(Event{Kind: MessageExpunged, User: m.User, MailboxID: m.ID, Mailbox: m.Name, UID: uid})
		}
	}
	return nil
}

func (s *SQLite) Expunge(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	var done []uint32
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		m, err := mailboxRefByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		if uids == nil {
			rows, err := tx.QueryContext(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? AND (' ' || flags || ' ') LIKE '% \Deleted %' ORDER BY uid`, mailboxID)
			if err != nil {
				return err
			}
			for rows.Next() {
				var u uint32
				if err := rows.Scan(&u); err != nil {
					rows.Close()
					return err
				}
				uids = append(uids, u)
			}
			rows.Close()
		} else {
			uids = append([]uint32(nil), uids...)
			sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
		}
		wrapped := func(e Event) { done = append(done, e.UID); emit(e) }
		return expunge(ctx, tx, m, uids, wrapped)
	})
	return done, err
}

func copyMessages(ctx context.Context, tx *sql.Tx, srcID int64, uids []uint32, dst Mailbox, emit func(Event)) ([]CopiedUID, error) {
	var out []CopiedUID
	for _, uid := range uids {
		var flags string
		var date int64
		var body []byte
		err := tx.QueryRowContext(ctx, `SELECT flags, internal_date, body FROM messages WHERE mailbox_id = ? AND uid = ?`, srcID, uid).Scan(&flags, &date, &body)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		nuid, err := insertMessage(ctx, tx, dst, body, flags, time.Unix(0, date), emit)
		if err != nil {
			return nil, err
		}
		out = append(out, CopiedUID{Src: uid, Dst: nuid})
	}
	return out, nil
}

func (s *SQLite) copyOrMove(ctx context.Context, srcID int64, uids []uint32, user, dstName string, move bool) (Mailbox, []CopiedUID, error) {
	user, dstName = NormalizeUser(user), normMailbox(dstName)
	var dst Mailbox
	var pairs []CopiedUID
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, emit func(Event)) error {
		var err error
		if dst, err = mailboxRef(ctx, tx, user, dstName); err != nil {
			return err
		}
		src, err := mailboxRefByID(ctx, tx, srcID)
		if err != nil {
			return err
		}
		sorted := append([]uint32(nil), uids...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		if pairs, err = copyMessages(ctx, tx, srcID, sorted, dst, emit); err != nil {
			return err
		}
		if move {
			moved := make([]uint32, len(pairs))
			for i, p := range pairs {
				moved[i] = p.Src
			}
			return expunge(ctx, tx, src, moved, emit)
		}
		return nil
	})
	if err == nil {
		dst, err = getMailbox(ctx, s.db, user, dstName)
	}
	return dst, pairs, err
}

func (s *SQLite) Copy(ctx context.Context, srcID int64, uids []uint32, user, dst string) (Mailbox, []CopiedUID, error) {
	return s.copyOrMove(ctx, srcID, uids, user, dst, false)
}

func (s *SQLite) Move(ctx context.Context, srcID int64, uids []uint32, user, dst string) (Mailbox, []CopiedUID, error) {
	return s.copyOrMove(ctx, srcID, uids, user, dst, true)
}

var _ Store = (*SQLite)(nil)

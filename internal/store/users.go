package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
)

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

func (s *DB) CreateUser(ctx context.Context, name, password string, admin bool) error {
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
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		var uid int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users(name, hash, admin, created) VALUES(?,?,?,?) ON CONFLICT(name) DO NOTHING RETURNING id`,
			name, string(hash), admin, time.Now().Unix()).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("create user %s: %w", name, err)
		}
		for _, mb := range DefaultMailboxes {
			m, err := createMailbox(ctx, tx, uid, name, mb.Name, mb.SpecialUse)
			if err != nil {
				return err
			}
			emit(Event{Kind: MailboxCreated, User: name, MailboxID: m.ID, Mailbox: m.Name})
		}
		emit(Event{Kind: UserAdded, User: name})
		return nil
	})
}

func (s *DB) DeleteUser(ctx context.Context, name string) error {
	name = NormalizeUser(name)
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		// The mailboxes go with the user (ON DELETE CASCADE): say so, so
		// that IMAP views of them (on every host) are dropped.
		rows, err := tx.QueryContext(ctx, `SELECT m.id, m.name FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE u.name = ? ORDER BY m.id`, name)
		if err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		var gone []Event
		for rows.Next() {
			e := Event{Kind: MailboxDeleted, User: name}
			if err := rows.Scan(&e.MailboxID, &e.Mailbox); err != nil {
				rows.Close()
				return fmt.Errorf("delete user %s: %w", name, err)
			}
			gone = append(gone, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		for _, e := range gone {
			emit(e)
		}
		emit(Event{Kind: UserRemoved, User: name})
		return nil
	})
}

func (s *DB) SetPassword(ctx context.Context, name, password string) error {
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

func (s *DB) SetAdmin(ctx context.Context, name string, admin bool) error {
	name = NormalizeUser(name)
	return s.updateUser(ctx, name, `UPDATE users SET admin = ? WHERE name = ?`, admin, name)
}

func (s *DB) updateUser(ctx context.Context, name, query string, args ...any) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("update user %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		emit(Event{Kind: UserChanged, User: name})
		return nil
	})
}

func (s *DB) User(ctx context.Context, name string) (_ User, err error) {
	defer func() { err = s.classify(err) }()
	name = NormalizeUser(name)
	var u User
	var created int64
	err = s.db.QueryRowContext(ctx, `SELECT name, admin, created FROM users WHERE name = ?`, name).Scan(&u.Name, &u.Admin, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", name, err)
	}
	u.Created = time.Unix(created, 0)
	return u, nil
}

func (s *DB) ListUsers(ctx context.Context) (_ []User, err error) {
	defer func() { err = s.classify(err) }()
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

func (s *DB) Authenticate(ctx context.Context, protocol, name, password string) (_ User, err error) {
	defer func() { err = s.classify(err) }()
	name = NormalizeUser(name)
	var u User
	var hash string
	var created int64
	err = s.db.QueryRowContext(ctx, `SELECT name, hash, admin, created FROM users WHERE name = ?`, name).Scan(&u.Name, &hash, &u.Admin, &created)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
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

func (s *DB) AddKey(ctx context.Context, name, authorizedKey string) error {
	name = NormalizeUser(name)
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return fmt.Errorf("%w SSH public key: %v", ErrInvalid, err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	fp := ssh.FingerprintSHA256(pk)
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
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
		emit(Event{Kind: KeysChanged, User: name})
		return nil
	})
}

func (s *DB) Keys(ctx context.Context, name string) (_ []string, err error) {
	defer func() { err = s.classify(err) }()
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

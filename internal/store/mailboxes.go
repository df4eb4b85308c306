package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

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
func nextUIDValidity(ctx context.Context, tx *Tx) (uint32, error) {
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'uidvalidity' FOR UPDATE`).Scan(&last)
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

func createMailbox(ctx context.Context, tx *Tx, userID int64, user, name, specialUse string) (Mailbox, error) {
	uv, err := nextUIDValidity(ctx, tx)
	if err != nil {
		return Mailbox{}, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO mailboxes(user_id, name, uidvalidity, uidnext, special_use) VALUES(?,?,?,1,?) ON CONFLICT DO NOTHING RETURNING id`,
		userID, name, uv, specialUse).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", name, ErrExists)
	}
	if err != nil {
		return Mailbox{}, fmt.Errorf("create mailbox %s: %w", name, err)
	}
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

var (
	_ queryer = (*Tx)(nil)
	_ queryer = (*conn)(nil)
)

const mailboxCols = `m.id, u.name, m.name, m.uidvalidity, m.uidnext, m.special_use, m.subscribed,
	(SELECT count(*) FROM messages WHERE mailbox_id = m.id),
	(SELECT count(*) FROM messages WHERE mailbox_id = m.id AND (' ' || lower(flags) || ' ') NOT LIKE '% \seen %' ESCAPE '!'),
	(SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM messages WHERE mailbox_id = m.id)`

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

func (s *DB) Mailboxes(ctx context.Context, user string) (_ []Mailbox, err error) {
	defer func() { err = s.classify(err) }()
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

func (s *DB) Mailbox(ctx context.Context, user, name string) (Mailbox, error) {
	m, err := getMailbox(ctx, s.db, NormalizeUser(user), normMailbox(name))
	return m, s.classify(err)
}

func (s *DB) CreateMailbox(ctx context.Context, user, name, specialUse string) (Mailbox, error) {
	user, name = NormalizeUser(user), normMailbox(name)
	if name == "" {
		return Mailbox{}, fmt.Errorf("%w: empty mailbox name", ErrInvalid)
	}
	var m Mailbox
	err := s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
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

func (s *DB) DeleteMailbox(ctx context.Context, user, name string) error {
	user, name = NormalizeUser(user), normMailbox(name)
	if name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrInvalid)
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
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

func (s *DB) RenameMailbox(ctx context.Context, user, oldName, newName string) error {
	user, oldName, newName = NormalizeUser(user), normMailbox(oldName), normMailbox(newName)
	if newName == "" || newName == "INBOX" {
		return fmt.Errorf("%w: cannot rename to %q", ErrInvalid, newName)
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
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
		// The children are chosen in Go, not with SQL substr(), which
		// counts characters where len() counts bytes: a non-ASCII name
		// (Été/Juin) would leave its children behind.
		rows, err := tx.QueryContext(ctx, `SELECT m.id, m.name FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE u.name = ?`, user)
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
			if r.from != oldName && !strings.HasPrefix(r.from, oldName+"/") {
				continue
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

func mustUserID(ctx context.Context, tx *Tx, user string) int64 {
	id, _ := userID(ctx, tx, user)
	return id
}

func (s *DB) SetSubscribed(ctx context.Context, user, name string, subscribed bool) error {
	user, name = NormalizeUser(user), normMailbox(name)
	return s.write(ctx, func(ctx context.Context, tx *Tx, _ func(Event)) error {
		m, err := mailboxRef(ctx, tx, user, name)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET subscribed = ? WHERE id = ?`, subscribed, m.ID)
		return err
	})
}

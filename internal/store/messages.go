package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

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

func insertMessage(ctx context.Context, tx *Tx, m Mailbox, raw []byte, flags string, date time.Time, emit func(Event)) (uint32, error) {
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

func (s *DB) Append(ctx context.Context, user, mailbox string, raw []byte, flags []string, date time.Time) (Mailbox, uint32, error) {
	user, mailbox = NormalizeUser(user), normMailbox(mailbox)
	if date.IsZero() {
		date = time.Now()
	}
	var m Mailbox
	var uid uint32
	err := s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		var err error
		if m, err = mailboxRef(ctx, tx, user, mailbox); err != nil {
			return err
		}
		uid, err = insertMessage(ctx, tx, m, raw, joinFlags(flags), date, emit)
		return err
	})
	return m, uid, err
}

func (s *DB) Deliver(ctx context.Context, users []string, raw []byte, date time.Time) error {
	if date.IsZero() {
		date = time.Now()
	}
	// In name order: two deliveries to the same users lock their INBOXes
	// in the same order (PostgreSQL), so neither waits for the other.
	users = append([]string(nil), users...)
	sort.Strings(users)
	return s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		for _, u := range users {
			if err := deliverOne(ctx, tx, NormalizeUser(u), raw, date, emit); err != nil {
				return err
			}
		}
		return nil
	})
}

// deliverOne is insertMessage into user's INBOX with the mailbox found and
// its UID taken in one statement: two statements per recipient instead of
// three, which on PostgreSQL is a round trip and a good part of the
// server's work per delivery.
func deliverOne(ctx context.Context, tx *Tx, user string, raw []byte, date time.Time, emit func(Event)) error {
	var id int64
	var uid uint32
	err := tx.QueryRowContext(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1 WHERE name = 'INBOX' AND user_id = (SELECT id FROM users WHERE name = ?) RETURNING id, uidnext - 1`, user).Scan(&id, &uid)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mailbox INBOX of %s: %w", user, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("allocate uid in the INBOX of %s: %w", user, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO messages(mailbox_id, uid, flags, internal_date, size, body) VALUES(?,?,?,?,?,?)`,
		id, uid, "", date.UnixNano(), len(raw), raw); err != nil {
		return fmt.Errorf("store message in the INBOX of %s: %w", user, err)
	}
	emit(Event{Kind: MessageAdded, User: user, MailboxID: id, Mailbox: "INBOX", UID: uid, Flags: splitFlags(""), Size: int64(len(raw))})
	return nil
}

func (s *DB) Messages(ctx context.Context, mailboxID int64) (_ []Message, err error) {
	defer func() { err = s.classify(err) }()
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

func (s *DB) Body(ctx context.Context, mailboxID int64, uid uint32) (_ []byte, err error) {
	defer func() { err = s.classify(err) }()
	var b []byte
	err = s.db.QueryRowContext(ctx, `SELECT body FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, uid).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message uid %d: %w", uid, ErrNotFound)
	}
	return b, err
}

// bodiesChunk is how many messages one Bodies query reads: a fixed
// number of placeholders (the rest padded with UID 0, which no message
// has), so that every chunk is the same prepared statement.
const bodiesChunk = 32

var bodiesSQL = `SELECT uid, body FROM messages WHERE mailbox_id = ? AND uid IN (?` + strings.Repeat(",?", bodiesChunk-1) + `)`

// Bodies implements Store: one query (and, on SQLite, one read
// transaction) per bodiesChunk messages instead of one per message.
func (s *DB) Bodies(ctx context.Context, mailboxID int64, uids []uint32) (_ map[uint32][]byte, err error) {
	defer func() { err = s.classify(err) }()
	out := make(map[uint32][]byte, len(uids))
	args := make([]any, 1+bodiesChunk)
	args[0] = mailboxID
	for len(uids) > 0 {
		n := min(len(uids), bodiesChunk)
		for i := range bodiesChunk {
			args[1+i] = uint32(0)
			if i < n {
				args[1+i] = uids[i]
			}
		}
		uids = uids[n:]
		rows, err := s.db.QueryContext(ctx, bodiesSQL, args...)
		if err != nil {
			return nil, fmt.Errorf("read messages: %w", err)
		}
		for rows.Next() {
			var uid uint32
			var b []byte
			if err := rows.Scan(&uid, &b); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read messages: %w", err)
			}
			out[uid] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read messages: %w", err)
		}
	}
	return out, nil
}

func (s *DB) StoreFlags(ctx context.Context, mailboxID int64, uids []uint32, op FlagOp, flags []string) ([]Message, error) {
	var out []Message
	err := s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		out = nil // a write may run again (PostgreSQL, after a deadlock)
		m, err := mailboxRefByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			var cur string
			var msg Message
			var date int64
			err := tx.QueryRowContext(ctx, `SELECT flags, internal_date, size FROM messages WHERE mailbox_id = ? AND uid = ? FOR UPDATE`, mailboxID, uid).Scan(&cur, &date, &msg.Size)
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

func allUIDs(ctx context.Context, tx *Tx, mailboxID int64) ([]uint32, error) {
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

func expunge(ctx context.Context, tx *Tx, m Mailbox, uids []uint32, emit func(Event)) error {
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

func (s *DB) Expunge(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	var done []uint32
	err := s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
		done = nil // a write may run again (PostgreSQL, after a deadlock)
		m, err := mailboxRefByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		var todo []uint32
		if uids == nil {
			rows, err := tx.QueryContext(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? AND (' ' || lower(flags) || ' ') LIKE '% \deleted %' ESCAPE '!' ORDER BY uid`, mailboxID)
			if err != nil {
				return err
			}
			for rows.Next() {
				var u uint32
				if err := rows.Scan(&u); err != nil {
					rows.Close()
					return err
				}
				todo = append(todo, u)
			}
			rows.Close()
		} else {
			todo = append([]uint32(nil), uids...)
			sort.Slice(todo, func(i, j int) bool { return todo[i] < todo[j] })
		}
		wrapped := func(e Event) { done = append(done, e.UID); emit(e) }
		return expunge(ctx, tx, m, todo, wrapped)
	})
	return done, err
}

func copyMessages(ctx context.Context, tx *Tx, srcID int64, uids []uint32, dst Mailbox, emit func(Event)) ([]CopiedUID, error) {
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

func (s *DB) copyOrMove(ctx context.Context, srcID int64, uids []uint32, user, dstName string, move bool) (Mailbox, []CopiedUID, error) {
	user, dstName = NormalizeUser(user), normMailbox(dstName)
	var dst Mailbox
	var pairs []CopiedUID
	err := s.write(ctx, func(ctx context.Context, tx *Tx, emit func(Event)) error {
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

func (s *DB) Copy(ctx context.Context, srcID int64, uids []uint32, user, dst string) (Mailbox, []CopiedUID, error) {
	return s.copyOrMove(ctx, srcID, uids, user, dst, false)
}

func (s *DB) Move(ctx context.Context, srcID int64, uids []uint32, user, dst string) (Mailbox, []CopiedUID, error) {
	return s.copyOrMove(ctx, srcID, uids, user, dst, true)
}

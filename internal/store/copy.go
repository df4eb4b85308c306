package store

import (
	"context"
	"fmt"
)

// CopyStats counts what CopyAll copied.
type CopyStats struct {
	Users, Keys, Mailboxes, Messages int
}

// CopyAll copies every user (with its password hash, admin flag and SSH
// keys), mailbox and message from src into dst, which must have no users:
// `labd store copy`, to move an install from SQLite to PostgreSQL. UIDs,
// UIDNEXT and UIDVALIDITY are kept, so that IMAP clients do not resync;
// dst's UIDVALIDITY counter is raised past every copied one so that a
// mailbox created later never reuses one. It is one transaction in dst:
// an interrupted copy leaves dst empty. It emits no events: run it before
// the hosts that use dst start.
func CopyAll(ctx context.Context, dst, src *DB) (CopyStats, error) {
	var st CopyStats
	err := dst.write(ctx, func(ctx context.Context, tx *Tx, _ func(Event)) error {
		st = CopyStats{} // a write may run again (PostgreSQL, after a deadlock)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the destination already has %d users; copy into an empty database", ErrExists, n)
		}
		users, err := src.db.QueryContext(ctx, `SELECT id, name, hash, admin, created FROM users ORDER BY id`)
		if err != nil {
			return fmt.Errorf("read users: %w", err)
		}
		type user struct {
			id, created int64
			name, hash  string
			admin       bool
		}
		var us []user
		for users.Next() {
			var u user
			if err := users.Scan(&u.id, &u.name, &u.hash, &u.admin, &u.created); err != nil {
				users.Close()
				return err
			}
			us = append(us, u)
		}
		users.Close()
		if err := users.Err(); err != nil {
			return err
		}
		for _, u := range us {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO users(name, hash, admin, created) VALUES(?,?,?,?) RETURNING id`,
				u.name, u.hash, u.admin, u.created).Scan(&id); err != nil {
				return fmt.Errorf("copy user %s: %w", u.name, err)
			}
			st.Users++
			if err := copyRows(ctx, src, `SELECT key, fingerprint FROM ssh_keys WHERE user_id = ? ORDER BY id`, []any{u.id},
				func(scan func(...any) error) error {
					var key, fp string
					if err := scan(&key, &fp); err != nil {
						return err
					}
					st.Keys++
					_, err := tx.ExecContext(ctx, `INSERT INTO ssh_keys(user_id, key, fingerprint) VALUES(?,?,?)`, id, key, fp)
					return err
				}); err != nil {
				return fmt.Errorf("copy keys of %s: %w", u.name, err)
			}
			type mailbox struct {
				id, uidvalidity, uidnext int64
				name, special            string
				subscribed               bool
			}
			var mbs []mailbox
			if err := copyRows(ctx, src, `SELECT id, name, uidvalidity, uidnext, special_use, subscribed FROM mailboxes WHERE user_id = ? ORDER BY id`, []any{u.id},
				func(scan func(...any) error) error {
					var m mailbox
					if err := scan(&m.id, &m.name, &m.uidvalidity, &m.uidnext, &m.special, &m.subscribed); err != nil {
						return err
					}
					mbs = append(mbs, m)
					return nil
				}); err != nil {
				return fmt.Errorf("read mailboxes of %s: %w", u.name, err)
			}
			for _, m := range mbs {
				var mid int64
				if err := tx.QueryRowContext(ctx, `INSERT INTO mailboxes(user_id, name, uidvalidity, uidnext, special_use, subscribed) VALUES(?,?,?,?,?,?) RETURNING id`,
					id, m.name, m.uidvalidity, m.uidnext, m.special, m.subscribed).Scan(&mid); err != nil {
					return fmt.Errorf("copy mailbox %s of %s: %w", m.name, u.name, err)
				}
				st.Mailboxes++
				if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'uidvalidity' AND value < ?`, m.uidvalidity, m.uidvalidity); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES('uidvalidity', ?) ON CONFLICT(key) DO NOTHING`, m.uidvalidity); err != nil {
					return err
				}
				if err := copyRows(ctx, src, `SELECT uid, flags, internal_date, size, body FROM messages WHERE mailbox_id = ? ORDER BY uid`, []any{m.id},
					func(scan func(...any) error) error {
						var uid, date, size int64
						var flags string
						var body []byte
						if err := scan(&uid, &flags, &date, &size, &body); err != nil {
							return err
						}
						st.Messages++
						_, err := tx.ExecContext(ctx, `INSERT INTO messages(mailbox_id, uid, flags, internal_date, size, body) VALUES(?,?,?,?,?,?)`,
							mid, uid, flags, date, size, body)
						return err
					}); err != nil {
					return fmt.Errorf("copy messages of %s/%s: %w", u.name, m.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return CopyStats{}, err
	}
	return st, nil
}

// copyRows calls fn for each row of a query on src.
func copyRows(ctx context.Context, src *DB, q string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := src.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

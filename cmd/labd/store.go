package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"labd/internal/store"
)

// storeCmd is `labd store copy --from sqlite:PATH --to postgres:DSN`: it
// moves an install to another database with UIDs and UIDVALIDITY intact.
func (c *cli) storeCmd(args []string) error {
	if len(args) == 0 || args[0] != "copy" {
		return usageError{c.tr.T("store needs a subcommand: copy --from sqlite:PATH --to postgres:DSN")}
	}
	fs, _ := c.flags("store copy")
	from := fs.String("from", "", "source database: sqlite:PATH or postgres:DSN")
	to := fs.String("to", "", "destination database, empty: sqlite:PATH or postgres:DSN")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || *from == "" || *to == "" {
		return usageError{c.tr.T("store copy takes --from sqlite:PATH (or postgres:DSN) and --to postgres:DSN (or sqlite:PATH)")}
	}
	src, err := c.openStoreURL(c.ctx, *from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := c.openStoreURL(c.ctx, *to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	st, err := store.CopyAll(c.ctx, dst, src)
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	fmt.Fprintln(c.stdout, c.tr.T("copied %d users, %d SSH keys, %d mailboxes, %d messages (UIDs and UIDVALIDITY kept)",
		st.Users, st.Keys, st.Mailboxes, st.Messages))
	return nil
}

// openStoreURL opens sqlite:PATH or postgres:DSN; a postgres:// or
// postgresql:// URL is a DSN as it stands.
func (c *cli) openStoreURL(ctx context.Context, s string) (*store.DB, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return store.OpenPostgres(ctx, s, store.PostgresOptions{ConnectTimeout: 10 * time.Second})
	case strings.HasPrefix(s, "postgres:"):
		return store.OpenPostgres(ctx, strings.TrimPrefix(s, "postgres:"), store.PostgresOptions{ConnectTimeout: 10 * time.Second})
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		// Opening creates a missing file: a typo in --from would copy
		// nothing and say so calmly.
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s: %w", c.tr.T("SQLite database %s", path), err)
		}
		return store.OpenSQLite(path, store.Options{})
	}
	return nil, usageError{c.tr.T("%q: say sqlite:PATH or postgres:DSN", s)}
}

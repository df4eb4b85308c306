package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"labd/internal/fsroot"
	"labd/internal/store"
)

// ResetOptions says what a class reset keeps.
type ResetOptions struct {
	// KeepUsers keeps the students' accounts (their mail is still emptied).
	KeepUsers bool
	// KeepFiles keeps the students' homes.
	KeepFiles bool
}

// ResetReport says what a class reset did.
type ResetReport struct {
	UsersDeleted     []string
	MailboxesEmptied int
	MessagesRemoved  int
	HomesCleared     []string
}

// ResetClass starts a new term on st and layout: students' (non-admin
// users') mail is emptied and their extra mailboxes removed, their accounts
// deleted unless KeepUsers, their homes cleared unless KeepFiles. Admin
// accounts (the teachers), pub/, the TLS CA and the SSH host keys stay, so
// that students' clients keep trusting the host. It goes through the store
// interface, so it works on either backend. Sessions and transcripts live in
// the daemon's memory and go with the restart a reset needs.
func ResetClass(ctx context.Context, st store.Store, layout fsroot.Layout, o ResetOptions) (ResetReport, error) {
	var rep ResetReport
	users, err := st.ListUsers(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	defaults := map[string]bool{}
	for _, d := range store.DefaultMailboxes {
		defaults[d.Name] = true
	}
	for _, u := range users {
		if u.Admin {
			continue
		}
		if !o.KeepUsers {
			if err := st.DeleteUser(ctx, u.Name); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", u.Name, err))
				continue
			}
			rep.UsersDeleted = append(rep.UsersDeleted, u.Name)
			if !o.KeepFiles {
				if err := os.RemoveAll(layout.Home(u.Name)); err != nil {
					errs = append(errs, err)
				} else {
					rep.HomesCleared = append(rep.HomesCleared, u.Name)
				}
			}
			continue
		}
		mbs, err := st.Mailboxes(ctx, u.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("mailboxes of %s: %w", u.Name, err))
			continue
		}
		// Children before parents, so that deleting one never finds its
		// hierarchy gone already.
		slices.SortFunc(mbs, func(a, b store.Mailbox) int { return len(b.Name) - len(a.Name) })
		for _, mb := range mbs {
			if !defaults[mb.Name] {
				if err := st.DeleteMailbox(ctx, u.Name, mb.Name); err != nil {
					errs = append(errs, fmt.Errorf("delete mailbox %s of %s: %w", mb.Name, u.Name, err))
				}
				continue
			}
			msgs, err := st.Messages(ctx, mb.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(msgs) == 0 {
				continue
			}
			uids := make([]uint32, len(msgs))
			for i, m := range msgs {
				uids[i] = m.UID
			}
			gone, err := st.Expunge(ctx, mb.ID, uids)
			if err != nil {
				errs = append(errs, fmt.Errorf("empty %s of %s: %w", mb.Name, u.Name, err))
				continue
			}
			rep.MessagesRemoved += len(gone)
			rep.MailboxesEmptied++
		}
		if !o.KeepFiles {
			if err := clearDir(layout.Home(u.Name)); err != nil {
				errs = append(errs, err)
			} else {
				rep.HomesCleared = append(rep.HomesCleared, u.Name)
			}
		}
	}
	return rep, errors.Join(errs...)
}

// clearDir empties a home but keeps it (and lets EnsureHome recreate
// public_html at the next login).
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(dir + "/" + e.Name()); err != nil {
			return err
		}
	}
	return nil
}

package dashboard

import (
	"context"

	"labd/internal/store"
)

// followUsers ends the dashboard logins (teacher's and students' /labd/me)
// of a user whose password or admin flag changed, or who was removed, as
// soon as the store says so, whichever labd host or `labd user` made the
// change: a password reset after a leak also closes the leaked cookie.
// The admin flag and the account's existence are re-read at every request
// anyway; this is for the password.
func (d *Dashboard) followUsers() {
	if d.deps.Store == nil {
		return
	}
	cancel := d.deps.Store.Subscribe(func(e store.Event) {
		if e.Kind != store.UserChanged && e.Kind != store.UserRemoved {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for tok, l := range d.sessions {
			if l.user == e.User {
				delete(d.sessions, tok)
			}
		}
	})
	context.AfterFunc(d.ctx, cancel)
}

package daemon

import (
	"context"
	"log/slog"
	"sync"

	"labd/internal/authguard"
	"labd/internal/fsroot"
	"labd/internal/sessions"
	"labd/internal/store"
)

// What a host holds per user, and how a user change (made on this host, by
// `labd user` on it, or on another host sharing the PostgreSQL database)
// reaches it without SIGHUP:
//
//   - passwords, the admin flag and SSH keys are read from the store at
//     every login (Authenticate, Keys; the dashboard re-reads the admin
//     flag at every request): nothing to refresh;
//   - the login guard's failure counts of the account (authguard): reset
//     when the user is added, changed or removed, so that a password reset
//     by the teacher lets the student in at once;
//   - live sessions of a removed user (IMAP, POP3, SSH, FTP, Telnet...):
//     ended, on every host; the user's IMAP mailbox views are dropped by
//     the MailboxDeleted events the removal publishes;
//   - the home: created when the user is added (it was created only at
//     the first login there, or at the next start or reload).
//
// The roster (internal/roster) reads the store when it imports: no cache.

// userFollower applies user events off the store's publishing goroutine:
// the subscriber must not block, and making a home or ending sessions may.
type userFollower struct {
	guard  *authguard.Guard
	reg    *sessions.Registry
	layout fsroot.Layout
	log    *slog.Logger

	events chan store.Event
	done   chan struct{}
	stop   func()
	once   sync.Once
}

// followUsers starts following st's user events; the returned function
// stops it (idempotent).
func followUsers(st store.Store, guard *authguard.Guard, reg *sessions.Registry, layout fsroot.Layout, log *slog.Logger) func() {
	f := &userFollower{guard: guard, reg: reg, layout: layout, log: log,
		events: make(chan store.Event, 1024), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	unsub := st.Subscribe(func(e store.Event) {
		switch e.Kind {
		case store.UserAdded, store.UserChanged, store.UserRemoved, store.KeysChanged:
		default:
			return
		}
		select {
		case f.events <- e:
		default:
			// A roster import of a thousand users at once: the homes are
			// made at first login anyway, and the guard forgets by itself.
			f.log.Warn("user change not applied: too many at once", "user", e.User, "change", e.Kind.String())
		}
	})
	go f.run(ctx)
	f.stop = func() {
		f.once.Do(func() {
			unsub()
			cancel()
			<-f.done
		})
	}
	return f.stop
}

func (f *userFollower) run(ctx context.Context) {
	defer close(f.done)
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-f.events:
			f.apply(e)
		}
	}
}

func (f *userFollower) apply(e store.Event) {
	if f.guard != nil {
		f.guard.Reset(e.User)
	}
	switch e.Kind {
	case store.UserAdded:
		if err := f.layout.EnsureHome(e.User); err != nil {
			f.log.Warn("home of a new user", "user", e.User, "err", err)
		}
	case store.UserRemoved:
		n := 0
		for _, in := range f.reg.Live() {
			if in.User != e.User {
				continue
			}
			if s, ok := f.reg.Get(in.ID); ok {
				s.Notef("user %s was removed: session ended", e.User)
				if s.Kill() {
					n++
				}
			}
		}
		if n > 0 {
			f.log.Info("ended the sessions of a removed user", "user", e.User, "sessions", n)
		}
	}
}

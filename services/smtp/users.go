package smtp

import (
	"context"
	"sync"
	"time"

	"labd/internal/store"
)

const (
	// maxKnownUsers bounds the recipient cache; past it, it starts again.
	maxKnownUsers = 4096
	// knownUserTTL is how long a user found is kept at most: `labd user
	// del` run as its own process on SQLite sends the daemon no event.
	// Until then, mail to that user is refused at DATA (451) instead of
	// RCPT (550).
	knownUserTTL = 10 * time.Second
)

// knownUsers is the store as recipient resolution sees it (mail.Store),
// with the users found kept between user changes: every RCPT TO (and a
// VRFY) looked its user up in the database, 11% of labd's CPU under
// smtp-source. Any user event (added, changed, removed, from any host on
// PostgreSQL, see store.Store.Subscribe) forgets them all, so a removed
// user is refused at RCPT as before (after knownUserTTL at most when the
// event cannot come: another process on the same SQLite). Unknown names are not kept: they cost
// a lookup each, as before. Only while following the store's events
// (Serve) is anything kept.
type knownUsers struct {
	store.Store
	mu        sync.Mutex
	following bool
	gen       uint64 // bumped by every user event
	m         map[string]knownUser
}

type knownUser struct {
	u     store.User
	found time.Time
}

// follow starts keeping users until the returned function is called.
func (k *knownUsers) follow() (stop func()) {
	unsub := k.Store.Subscribe(func(e store.Event) {
		switch e.Kind {
		case store.UserAdded, store.UserChanged, store.UserRemoved:
			k.forget()
		}
	})
	k.mu.Lock()
	k.following = true
	k.mu.Unlock()
	return func() {
		unsub()
		k.mu.Lock()
		k.following = false
		k.m = nil
		k.mu.Unlock()
	}
}

func (k *knownUsers) forget() {
	k.mu.Lock()
	k.gen++
	k.m = nil
	k.mu.Unlock()
}

// User implements mail.Store.
func (k *knownUsers) User(ctx context.Context, name string) (store.User, error) {
	now := time.Now()
	k.mu.Lock()
	ku, ok := k.m[name]
	gen, following := k.gen, k.following
	k.mu.Unlock()
	if ok && now.Sub(ku.found) < knownUserTTL {
		return ku.u, nil
	}
	u, err := k.Store.User(ctx, name)
	if err != nil || !following {
		return u, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// A user event since the lookup began may have removed this user:
	// keep the answer only if none came.
	if k.gen == gen && k.following {
		if k.m == nil || len(k.m) >= maxKnownUsers {
			k.m = map[string]knownUser{}
		}
		k.m[name] = knownUser{u: u, found: now}
	}
	return u, nil
}

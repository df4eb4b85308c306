package dns

import (
	"context"
	"maps"
	"time"

	"labd/internal/store"
)

// The built-in zone has one A record per user (alice.lab.test). A user
// added or removed, here or on another labd host sharing the database
// (docs/scale-out.md), rebuilds the generated zones at once, without a
// reload: zone files are left as they are (re-reading them is the
// teacher's SIGHUP, part of the DNS lesson).

// followUsers refreshes the generated zones on user events until ctx ends
// or the returned function, which waits for it to stop, is called.
func (s *Service) followUsers(ctx context.Context) (stop func()) {
	if s.deps.Store == nil {
		return func() {}
	}
	ctx, end := context.WithCancel(ctx)
	kick := make(chan struct{}, 1)
	cancel := s.deps.Store.Subscribe(func(e store.Event) {
		if e.Kind != store.UserAdded && e.Kind != store.UserRemoved {
			return
		}
		// Coalesced: one rebuild covers every change before it (a roster
		// import of thirty users is one or two rebuilds).
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
				if err := s.refreshUsers(ctx); err != nil {
					s.log.Warn("dns: the built-in zone was not updated for a user change; labd reload retries", "err", err)
				}
			}
		}
	}()
	return func() { end(); <-done }
}

// refreshUsers rebuilds the generated zones from the user list and
// replaces those that changed (with a new serial, and a NOTIFY to their
// secondaries). A generated zone a zone file replaced stays replaced.
func (s *Service) refreshUsers(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	list, err := s.deps.Store.ListUsers(uctx)
	cancel()
	if err != nil {
		return err
	}
	users := make([]string, 0, len(list))
	for _, u := range list {
		users = append(users, u.Name)
	}
	prev := s.zones.Load()
	gen, err := generatedZones(s.cfg, users, prev.zones, s.now())
	if err != nil {
		return err
	}
	next := &zoneSet{zones: maps.Clone(prev.zones)}
	var changed []*zone
	for _, z := range gen {
		p := prev.zones[z.origin]
		if p == nil || p.file != "" || p.primary != "" || p.serial() == z.serial() {
			continue
		}
		next.zones[z.origin] = z
		changed = append(changed, z)
	}
	if len(changed) == 0 {
		return nil
	}
	s.zones.Store(next)
	for _, z := range changed {
		s.sendNotify(z)
	}
	return nil
}

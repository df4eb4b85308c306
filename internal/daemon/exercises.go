package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"labd/config"
	"labd/internal/exercises"
	"labd/internal/fsroot"
	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
)

// LoadExercises returns the exercises the config declares: the built-in
// pack, then the teacher's file, whose exercises replace built-in ones of
// the same id.
func LoadExercises(cfg *config.Config) ([]exercises.Exercise, error) {
	var out []exercises.Exercise
	if cfg.Exercises.BuiltinOn() {
		b, err := exercises.Builtin()
		if err != nil {
			return nil, err
		}
		out = b
	}
	if cfg.Exercises.File != "" {
		own, err := exercises.Load(cfg.Exercises.File)
		if err != nil {
			return nil, fmt.Errorf("exercises.file: %w", err)
		}
		for _, e := range own {
			replaced := false
			for i := range out {
				if out[i].ID == e.ID {
					out[i], replaced = e, true
				}
			}
			if !replaced {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// ProgressFile is where the class's progress is kept.
func ProgressFile(layout fsroot.Layout) string { return filepath.Join(layout.DataDir, "progress.json") }

func newTracker(cfg *config.Config, layout fsroot.Layout, reg *sessions.Registry, st store.Store) (*exercises.Tracker, error) {
	if !cfg.Exercises.On() {
		return nil, nil
	}
	ex, err := LoadExercises(cfg)
	if err != nil {
		return nil, err
	}
	users := &userCache{st: st}
	st.Subscribe(func(e store.Event) {
		switch e.Kind {
		case store.UserAdded, store.UserChanged, store.UserRemoved:
			users.forget()
		}
	})
	return exercises.NewTracker(ex, reg, ProgressFile(layout), users.is), nil
}

// userCache says whether a name is a user, for the exercise tracker: it
// asks for names found in every finished session (each DNS query's name),
// and a store query each time cost more than answering the DNS query. It
// forgets everything on a user change (from any host) and every minute.
type userCache struct {
	st    store.Users
	mu    sync.Mutex
	known map[string]bool
	since time.Time
	gen   uint64 // moves on every forget: an answer read before is not kept
}

func (c *userCache) is(name string) bool {
	c.mu.Lock()
	if c.known == nil || len(c.known) >= 4096 || time.Since(c.since) > time.Minute {
		c.known, c.since = map[string]bool{}, time.Now()
	}
	v, ok := c.known[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.st.User(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false // the store is unavailable: ask again next time
	}
	c.mu.Lock()
	if c.known != nil && c.gen == gen {
		c.known[name] = err == nil
	}
	c.mu.Unlock()
	return err == nil
}

func (c *userCache) forget() {
	c.mu.Lock()
	c.known = nil
	c.gen++
	c.mu.Unlock()
}

// reloadExercises re-reads the exercises on SIGHUP; on an error the ones
// in use stay.
func reloadExercises(cfg *config.Config, deps service.Deps) string {
	if deps.Exercises == nil {
		return ""
	}
	ex, err := LoadExercises(cfg)
	if err != nil {
		deps.Logger.Error("reload: exercises; the previous ones stay in use", "err", err)
		return "exercises: failed: " + err.Error()
	}
	deps.Exercises.SetExercises(ex)
	return fmt.Sprintf("exercises (%d, progress recomputed from the sessions still recorded)", len(ex))
}

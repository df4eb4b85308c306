package daemon

import (
	"context"
	"fmt"
	"path/filepath"
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

func newTracker(cfg *config.Config, layout fsroot.Layout, reg *sessions.Registry, st store.Users) (*exercises.Tracker, error) {
	if !cfg.Exercises.On() {
		return nil, nil
	}
	ex, err := LoadExercises(cfg)
	if err != nil {
		return nil, err
	}
	users := func(name string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := st.User(ctx, name)
		return err == nil
	}
	return exercises.NewTracker(ex, reg, ProgressFile(layout), users), nil
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

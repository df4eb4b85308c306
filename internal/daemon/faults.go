package daemon

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"labd/config"
	"labd/internal/faults"
	"labd/internal/fsroot"
)

// newFaults makes the fault set; with faults.keep_across_restart its
// active faults are kept in data_dir/faults.json and come back at start.
func newFaults(cfg *config.Config, layout fsroot.Layout, log *slog.Logger) *faults.Set {
	s := faults.New(time.Duration(cfg.Faults.MaxDuration))
	file := filepath.Join(layout.DataDir, "faults.json")
	if !cfg.Faults.KeepAcrossRestart {
		_ = os.Remove(file)
	} else {
		if b, err := os.ReadFile(file); err == nil {
			var kept []faults.Fault
			if json.Unmarshal(b, &kept) == nil {
				s.Restore(kept)
			}
		}
	}
	s.OnChange = func(list []faults.Fault) {
		if !cfg.Faults.KeepAcrossRestart {
			return
		}
		b, _ := json.Marshal(list)
		tmp := file + ".tmp"
		if os.WriteFile(tmp, b, 0o600) == nil {
			_ = os.Rename(tmp, file)
		}
	}
	return s
}

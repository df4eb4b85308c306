package daemon

import (
	"context"
	"log/slog"
	"time"

	"labd/config"
	"labd/internal/fsroot"
	"labd/internal/store"
)

// OpenStore opens the database config.Store names: `labd serve` and the
// CLI commands that write users go through it, so that they agree on
// where the users are.
func OpenStore(cfg *config.Config, layout fsroot.Layout, bcryptCost int, logger *slog.Logger) (*store.DB, error) {
	opts := store.Options{BcryptCost: bcryptCost}
	if cfg.Store.Driver == "postgres" {
		// Unreachable at start is an error at once: labd exits, its
		// supervisor (systemd) restarts it.
		return store.OpenPostgres(context.Background(), cfg.Store.DSN, store.PostgresOptions{
			Options: opts, Logger: logger, ConnectTimeout: 10 * time.Second,
		})
	}
	path := cfg.Store.DSN
	if path == "" {
		path = layout.Database()
	}
	return store.OpenSQLite(path, opts)
}

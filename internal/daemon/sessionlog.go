package daemon

import (
	"log/slog"

	"labd/config"
	"labd/internal/service"
	"labd/internal/sessionlog"
	"labd/internal/store"
)

// startSessionLog copies this host's sessions to the shared session log
// when the store keeps one (PostgreSQL); it returns the function that
// writes what is queued and stops (idempotent).
func startSessionLog(cfg *config.Config, deps service.Deps, logger *slog.Logger) func() {
	db, ok := deps.Store.(*store.DB)
	if !ok || !db.SharedSessions() {
		return func() {}
	}
	rec := sessionlog.Start(deps.Sessions, db, sessionlog.Options{
		Node: cfg.Server.Node, KeepTranscripts: cfg.Sessions.History,
		Logger: logger.With("node", cfg.Server.Node),
	})
	return rec.Close
}

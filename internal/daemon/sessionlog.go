package daemon

import (
	"log/slog"

	"labd/config"
	"labd/internal/dashboard"
	"labd/internal/service"
	"labd/internal/sessionlog"
	"labd/internal/sessions"
	"labd/internal/store"
)

// startSessionLog copies this host's sessions to the shared session log
// when the store keeps one (PostgreSQL; else it returns nil). Its Close
// writes what is queued and stops (idempotent).
func startSessionLog(cfg *config.Config, deps service.Deps, logger *slog.Logger) *sessionlog.Recorder {
	db, ok := deps.Store.(*store.DB)
	if !ok || !db.SharedSessions() {
		return nil
	}
	return sessionlog.Start(deps.Sessions, db, sessionlog.Options{
		Node: cfg.Server.Node, KeepTranscripts: cfg.Sessions.History,
		Private: func(in sessions.Info) bool { return in.Attrs[dashboard.OwnAttr] != "" },
		Logger:  logger.With("node", cfg.Server.Node),
	})
}

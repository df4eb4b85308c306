package daemon

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"labd/config"
)

// reloadConfig re-reads and validates the config file the daemon started
// with. A file with errors changes nothing (the running config stays, the
// errors are reported); otherwise what can change live is applied (the log
// level) and the sections that changed otherwise are named as needing a
// restart: services copy their settings when they start.
func reloadConfig(cfg *config.Config, level *slog.LevelVar, log *slog.Logger) string {
	if cfg.File == "" {
		return "config: lab profile, no file to re-read"
	}
	next, err := config.Load(cfg.File)
	if err != nil {
		log.Error("reload: the config file has errors; the running config stays in use", "file", cfg.File, "err", err)
		return fmt.Sprintf("config: %s not applied, the running config stays: %v", cfg.File, err)
	}
	var applied, restart []string
	if next.Server.LogLevel != cfg.Server.LogLevel {
		if level != nil {
			level.Set(LogLevel(next.Server.LogLevel))
			applied = append(applied, "server.log_level "+next.Server.LogLevel)
		} else {
			restart = append(restart, "server.log_level")
		}
	}
	ov, nv := reflect.ValueOf(cfg).Elem(), reflect.ValueOf(next).Elem()
	for i := 0; i < ov.NumField(); i++ {
		f := ov.Type().Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		o, n := ov.Field(i).Interface(), nv.Field(i).Interface()
		if tag == "server" {
			s1, s2 := cfg.Server, next.Server
			s1.LogLevel, s2.LogLevel = "", ""
			o, n = s1, s2
		}
		if !reflect.DeepEqual(o, n) {
			restart = append(restart, tag)
		}
	}
	var parts []string
	if len(applied) > 0 {
		parts = append(parts, "applied "+strings.Join(applied, ", "))
	}
	if len(restart) > 0 {
		parts = append(parts, "changed but needs a restart: "+strings.Join(restart, ", "))
		log.Warn("reload: these config sections changed and take effect only after a restart", "sections", strings.Join(restart, ","))
	}
	if len(parts) == 0 {
		return "config: " + cfg.File + " unchanged"
	}
	return "config: " + strings.Join(parts, "; ")
}

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"labd/config"
	"labd/internal/backup"
	"labd/internal/daemon"
	"labd/internal/fsroot"
)

// daemonRunning says whether a labd serves this data directory (its
// control socket answers).
func daemonRunning(cfg *config.Config) bool {
	return daemon.Running(fsroot.Layout{DataDir: cfg.Server.DataDir}, time.Second)
}

// backup archives the data directory while the daemon serves.
func (c *cli) backup(args []string) error {
	fs, cfgPath := c.flags("backup")
	out := fs.String("o", "", "archive to write: FILE.tar.zst (or .tar.gz, .tar)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{c.tr.T("backup needs -o FILE.tar.zst")}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	db := sqlitePath(cfg, layout)
	if db != "" {
		if _, err := os.Stat(db); err != nil {
			return fmt.Errorf("%s: %w", c.tr.T("backup: no labd database at %s (is --config right?)", db), err)
		}
	}
	m, err := backup.Create(c.ctx, layout, *out, version, db)
	if err != nil {
		return err
	}
	if db == "" {
		fmt.Fprintln(c.stdout, c.tr.T("backup of %s written to %s: %d files (%d bytes); the store is on PostgreSQL: back it up with pg_dump", cfg.Server.DataDir, *out, m.Files, m.Bytes))
		return nil
	}
	fmt.Fprintln(c.stdout, c.tr.T("backup of %s written to %s: database and %d files (%d bytes)", cfg.Server.DataDir, *out, m.Files, m.Bytes))
	return nil
}

// restore unpacks an archive into the data directory of a stopped daemon.
func (c *cli) restore(args []string) error {
	fs, cfgPath := c.flags("restore")
	force := fs.Bool("force", false, "replace an existing database and files")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{c.tr.T("restore takes one archive: labd restore FILE.tar.zst")}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if daemonRunning(cfg) {
		return errors.New(c.tr.T("restore: labd is running on %s; stop it first (systemctl stop labd)", cfg.Server.DataDir))
	}
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	m, err := backup.Restore(c.ctx, layout, pos[0], *force)
	if err != nil {
		return err
	}
	fixOwnershipTree(cfg, cfg.Server.DataDir)
	fmt.Fprintln(c.stdout, c.tr.T("restored %s into %s: database and %d files from %s (labd %s)", pos[0], cfg.Server.DataDir, m.Files, m.Created.Format(time.RFC3339), m.Version))
	return nil
}

// class runs `labd class reset`.
func (c *cli) class(args []string) error {
	if len(args) == 0 || args[0] != "reset" {
		return usageError{c.tr.T("class takes one subcommand: labd class reset [--keep-users] [--keep-files]")}
	}
	fs, cfgPath := c.flags("class reset")
	keepUsers := fs.Bool("keep-users", false, "keep the students' accounts (their mail is still emptied)")
	keepFiles := fs.Bool("keep-files", false, "keep the students' homes")
	out := fs.String("o", "", "archive of the class before the reset (default: data_dir/archives/class-TIME.tar.zst)")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if daemonRunning(cfg) {
		return errors.New(c.tr.T("class reset: labd is running on %s; stop it first (systemctl stop labd), then start it again after the reset", cfg.Server.DataDir))
	}
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	db := sqlitePath(cfg, layout)
	if db != "" {
		if _, err := os.Stat(db); err != nil {
			return fmt.Errorf("%s: %w", c.tr.T("class reset: no labd database at %s", db), err)
		}
	}
	if *out == "" {
		dir := filepath.Join(cfg.Server.DataDir, backup.ArchiveDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		base := filepath.Join(dir, "class-"+time.Now().Format("20060102-150405"))
		*out = base + ".tar.zst"
		// Never overwrite an earlier archive, even one of the same second.
		for i := 2; ; i++ {
			if _, err := os.Lstat(*out); os.IsNotExist(err) {
				break
			}
			*out = fmt.Sprintf("%s-%d.tar.zst", base, i)
		}
	}
	m, err := backup.Create(c.ctx, layout, *out, version, db)
	if err != nil {
		return fmt.Errorf("%s: %w", c.tr.T("class reset: the archive failed, nothing was reset"), err)
	}
	fmt.Fprintln(c.stdout, c.tr.T("class archived to %s (%d files); restore it with labd restore --force", *out, m.Files))
	if db == "" {
		fmt.Fprintln(c.stdout, c.tr.T("the store is on PostgreSQL: the archive holds the files only; pg_dump the database first if you want last term's mail"))
	}
	st, err := daemon.OpenStore(cfg, layout, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := backup.ResetClass(c.ctx, st, layout, backup.ResetOptions{KeepUsers: *keepUsers, KeepFiles: *keepFiles})
	// Last term's progress goes with it (it is in the archive).
	_ = os.Remove(daemon.ProgressFile(layout))
	if len(rep.UsersDeleted) > 0 {
		fmt.Fprintln(c.stdout, c.tr.T("students deleted: %s", strings.Join(rep.UsersDeleted, " ")))
	}
	if *keepUsers {
		fmt.Fprintln(c.stdout, c.tr.T("mail emptied: %d messages removed", rep.MessagesRemoved))
	}
	if len(rep.HomesCleared) > 0 {
		fmt.Fprintln(c.stdout, c.tr.T("homes cleared: %s", strings.Join(rep.HomesCleared, " ")))
	}
	fmt.Fprintln(c.stdout, c.tr.T("kept: admin accounts, pub/, the TLS CA and the SSH host keys (students' clients still trust this host)"))
	return err
}

// sqlitePath is the SQLite database file of the config, or "" when the
// store is on PostgreSQL.
func sqlitePath(cfg *config.Config, layout fsroot.Layout) string {
	if cfg.Store.Driver == "postgres" {
		return ""
	}
	if cfg.Store.DSN != "" {
		return cfg.Store.DSN
	}
	return layout.Database()
}

// fixOwnershipTree hands a restored tree to the data directory's owner.
func fixOwnershipTree(cfg *config.Config, dir string) {
	var paths []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			paths = append(paths, p)
		}
		return nil
	})
	fixOwnership(cfg, paths...)
}

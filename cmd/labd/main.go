// Command labd turns one lab VM into a small Internet for a networking
// class: HTTP, FTP, SSH, Telnet, SMTP, DNS, TFTP, POP3 and IMAP from one
// process over one user database and one mailbox store.
//
// This file is wiring and command line only; the daemon lives in
// internal/daemon and the protocols in services/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/i18n"
	"labd/services"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `labd: the whole small Internet of a networking lab in one daemon.

Usage:
  labd serve   [--config FILE]          run the services (no FILE: the lab profile,
                                        127.0.0.1, standard ports + 10000, ./labd-data)
  labd check   [--config FILE]          validate a config and try every listen address
  labd user add NAME [--password P] [--admin]
  labd user del NAME
  labd user passwd NAME [--password P]
  labd user list
  labd user import ROSTER.csv           create many users; prints a credentials sheet
  labd user key add NAME FILE.pub       allow an SSH public key for NAME
  labd sessions [--transcript ID] [--flow ID] [--live] [--pcap ID -o FILE]
                                        live and recent sessions of the running daemon
  labd capture [--user U] [--protocol P] [--since 10m] -o FILE   sessions as one pcapng
  labd reload                           what SIGHUP does: users, zone files, caches
  labd hostkeys [--config FILE]         SSH host key fingerprints (for PuTTY, plink -hostkey)
  labd backup -o FILE.tar.zst           archive database, homes, pub/, keys (while serving)
  labd restore FILE.tar.zst [--force]   unpack an archive (labd stopped)
  labd class reset [--keep-users] [--keep-files]
                                        archive, then empty the students' mail and homes
  labd fault set SERVICE KIND [KEY=VALUE...] [--user U | --addr A] [--for 10m]
  labd fault list | clear ID | clear --all | kinds
                                        faults for a lesson (loss, delay, 4xx...)
  labd progress [--csv]                 who has done which exercise (docs/exercises.md)
  labd store copy --from sqlite:PATH --to postgres:DSN    move users and mail, UIDs kept
  labd version

Every command takes --config FILE (or $LABD_CONFIG) to find the data directory.
`

// cli carries what every subcommand writes to.
type cli struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	// tr speaks the language of the terminal (LC_ALL, LC_MESSAGES, LANG).
	tr *i18n.Printer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{ctx: ctx, stdout: stdout, stderr: stderr, tr: i18n.New(config.LanguageFromEnv(os.Getenv))}
	usage := translateUsage(c.tr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = c.serve(args[1:])
	case "check":
		err = c.check(args[1:])
	case "user", "users":
		err = c.user(args[1:])
	case "sessions":
		err = c.sessions(args[1:])
	case "capture":
		err = c.capture(args[1:])
	case "reload":
		err = c.reload(args[1:])
	case "hostkeys":
		err = c.hostkeys(args[1:])
	case "backup":
		err = c.backup(args[1:])
	case "restore":
		err = c.restore(args[1:])
	case "class":
		err = c.class(args[1:])
	case "fault", "faults":
		err = c.fault(args[1:])
	case "progress":
		err = c.progress(args[1:])
	case "store":
		err = c.storeCmd(args[1:])
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "labd", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "labd: %s\n\n%s", c.tr.T("unknown command %q", args[0]), usage)
		return 2
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(stderr, "labd: %v\n\n%s", c.tr.Err(err), usage)
			return 2
		}
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "labd: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// flags returns a flag set with --config.
func (c *cli) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("labd "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	cfg := fs.String("config", os.Getenv("LABD_CONFIG"), "config file (default: the lab profile)")
	return fs, cfg
}

// parse parses flags placed anywhere among the positional arguments, so
// that "labd user add bob --admin" works as well as "--admin bob".
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Lab(), nil
	}
	return config.Load(path)
}

func (c *cli) serve(args []string) error {
	fs, cfgPath := c.flags("serve")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{c.tr.T("serve takes no arguments besides --config: %s", strings.Join(pos, " "))}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(c.stdout, c.tr.T("labd %s: lab profile (no --config): 127.0.0.1, standard ports + %s, domain %s, data in %s, demo users alice/alice and bob/bob",
			version, strconv.Itoa(cfg.Server.PortOffset), cfg.Server.Domain, cfg.Server.DataDir))
	}
	return daemon.Run(c.ctx, cfg, daemon.Options{Builders: services.All(), Stdout: c.stdout, Version: version})
}

func (c *cli) reload(args []string) error {
	fs, cfgPath := c.flags("reload")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	out, err := controlFor(cfg).Reload()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, c.tr.T("reloaded: %s", out))
	return nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/fsroot"
	"labd/internal/roster"
	"labd/internal/store"
)

// systemConfig is the installed daemon's config (deploy/ puts it there);
// tests point it elsewhere.
var systemConfig = "/etc/labd/labd.yaml"

// user manages the user database. It opens the same SQLite database as the
// daemon (WAL mode allows it while the daemon runs) and creates homes
// itself, so that a new user can log in at once.
func (c *cli) user(args []string) error {
	if len(args) == 0 {
		return usageError{c.tr.T("user needs a subcommand: add, del, passwd, list, import, key")}
	}
	fs, cfgPath := c.flags("user " + args[0])
	password := fs.String("password", "", "password (default: generate one and print it)")
	admin := fs.Bool("admin", false, "make the user an administrator (dashboard access)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	arity := map[string]int{"add": 1, "del": 1, "delete": 1, "rm": 1, "passwd": 1, "password": 1, "list": 0, "ls": 0, "import": 1, "key": 3}
	if n, ok := arity[args[0]]; !ok {
		return usageError{c.tr.T("unknown user subcommand %q", args[0])}
	} else if len(pos) != n {
		return usageError{c.tr.T("user %s: wrong number of arguments", args[0])}
	}
	path := *cfgPath
	if path == "" {
		// Without --config or $LABD_CONFIG, a teacher on the lab host
		// means the installed daemon's users, not a new ./labd-data.
		if _, err := os.Stat(systemConfig); err == nil {
			path = systemConfig
			fmt.Fprintln(c.stderr, c.tr.T("labd: using %s (--config FILE for another one)", path))
		}
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if path == "" {
		abs, _ := filepath.Abs(cfg.Server.DataDir)
		fmt.Fprintln(c.stderr, c.tr.T("labd: no --config, no $LABD_CONFIG and no %s: using the lab profile's data directory %s", systemConfig, abs))
	}
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	if err := layout.Ensure(); err != nil {
		return err
	}
	st, err := daemon.OpenStore(cfg, layout, 0, nil)
	if err != nil {
		return err
	}
	defer func() {
		st.Close()
		fixOwnership(cfg, layout.Database(), layout.Database()+"-wal", layout.Database()+"-shm")
	}()
	need := func(n int, what string) error {
		if len(pos) != n {
			return usageError{c.tr.T("user %s takes %s", args[0], what)}
		}
		return nil
	}
	switch args[0] {
	case "add":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		pw, generated := *password, false
		if pw == "" {
			pw, generated = genPassword(), true
		}
		if err := st.CreateUser(c.ctx, pos[0], pw, *admin); err != nil {
			return c.explain(err, pos[0])
		}
		name := store.NormalizeUser(pos[0])
		// The password first: it is shown once, whatever happens next.
		if generated {
			fmt.Fprintln(c.stdout, c.tr.T("created user %s with password %s", name, pw))
		} else {
			fmt.Fprintln(c.stdout, c.tr.T("created user %s", name))
		}
		if err := makeHome(cfg, layout, name); err != nil {
			return err
		}
	case "del", "delete", "rm":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		if err := st.DeleteUser(c.ctx, pos[0]); err != nil {
			return c.explain(err, pos[0])
		}
		fmt.Fprintln(c.stdout, c.tr.T("deleted user %s (their home %s is kept; remove it by hand if you wish)", store.NormalizeUser(pos[0]), layout.Home(store.NormalizeUser(pos[0]))))
	case "passwd", "password":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		pw := *password
		if pw == "" {
			pw = genPassword()
		}
		if err := st.SetPassword(c.ctx, pos[0], pw); err != nil {
			return c.explain(err, pos[0])
		}
		if *admin {
			if err := st.SetAdmin(c.ctx, pos[0], true); err != nil {
				return c.explain(err, pos[0])
			}
		}
		if *password == "" {
			fmt.Fprintln(c.stdout, c.tr.T("new password of %s: %s", store.NormalizeUser(pos[0]), pw))
		} else {
			fmt.Fprintln(c.stdout, c.tr.T("password of %s changed", store.NormalizeUser(pos[0])))
		}
	case "list", "ls":
		users, err := st.ListUsers(c.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, c.tr.T("USER\tADMIN\tKEYS\tCREATED"))
		for _, u := range users {
			keys, _ := st.Keys(c.ctx, u.Name)
			adm := ""
			if u.Admin {
				adm = c.tr.T("yes")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", u.Name, adm, len(keys), u.Created.Format("2006-01-02 15:04"))
		}
		tw.Flush()
	case "import":
		if err := need(1, "ROSTER.csv"); err != nil {
			return err
		}
		return c.importRoster(st, cfg, layout, pos[0])
	case "key":
		if len(pos) != 3 || pos[0] != "add" {
			return usageError{c.tr.T("user key takes add NAME FILE.pub")}
		}
		data, err := os.ReadFile(pos[2])
		if err != nil {
			return fmt.Errorf("%s: %w", c.tr.T("read public key"), err)
		}
		if err := st.AddKey(c.ctx, pos[1], string(data)); err != nil {
			if errors.Is(err, store.ErrExists) {
				return err // the key, not the user
			}
			return c.explain(err, pos[1])
		}
		fmt.Fprintln(c.stdout, c.tr.T("added SSH key for %s", store.NormalizeUser(pos[1])))
	default:
		return usageError{c.tr.T("unknown user subcommand %q", args[0])}
	}
	return nil
}

// explain turns the store's errors about user name into the sentences the
// CLI prints, in the terminal's language.
func (c *cli) explain(err error, name string) error {
	name = store.NormalizeUser(name)
	switch {
	case errors.Is(err, store.ErrExists):
		return userError{c.tr.T("user %s already exists (choose another name, or labd user passwd to change its password)", name), err}
	case errors.Is(err, store.ErrNotFound):
		return userError{c.tr.T("no such user %s (labd user list shows who exists)", name), err}
	}
	return err
}

// userError is a store error told for people; errors.Is still sees the
// store's own.
type userError struct {
	msg string
	err error
}

func (e userError) Error() string { return e.msg }
func (e userError) Unwrap() error { return e.err }

// importRoster reads a CSV of name[,password[,admin]] (a header line is
// allowed), checks every line before creating anyone, then creates the
// users and prints a credentials sheet.
func (c *cli) importRoster(st *store.SQLite, cfg *config.Config, layout fsroot.Layout, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("%s: %w", c.tr.T("open roster"), err)
	}
	defer f.Close()
	todo, problems := roster.ParseIn(f, file, func(name string) bool {
		_, err := st.User(c.ctx, name)
		return err == nil
	}, c.tr)
	if len(problems) > 0 {
		return errors.New(c.tr.T("nothing imported:") + "\n  " + strings.Join(problems, "\n  "))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, c.tr.T("USER\tPASSWORD"))
	// The sheet is printed whatever happens: it is the only place the
	// generated passwords of the users already created appear.
	defer tw.Flush()
	for _, rl := range todo {
		if err := st.CreateUser(c.ctx, rl.Name, rl.Password, rl.Admin); err != nil {
			return userError{c.tr.T("%s: line %s: %v (users above this line were created)", file, strconv.Itoa(rl.Line), c.explain(err, rl.Name)), err}
		}
		fmt.Fprintf(tw, "%s\t%s\n", rl.Name, rl.Password)
		if err := makeHome(cfg, layout, rl.Name); err != nil {
			return err
		}
	}
	tw.Flush()
	fmt.Fprintln(c.stdout, c.tr.T("imported %d users", len(todo)))
	return nil
}

// genPassword makes a password a student can type from a printed sheet.
func genPassword() string { return roster.GenPassword() }

func makeHome(cfg *config.Config, layout fsroot.Layout, name string) error {
	if err := layout.EnsureHome(name); err != nil {
		return err
	}
	fixOwnershipTree(cfg, layout.Home(name))
	return nil
}

// fixOwnership gives files root created to the owner of the data
// directory: an instructor runs labd user as root while the daemon runs as
// the labd user, which must still be able to write them.
func fixOwnership(cfg *config.Config, paths ...string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(cfg.Server.DataDir)
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	for _, p := range paths {
		_ = os.Lchown(p, int(st.Uid), int(st.Gid))
	}
}

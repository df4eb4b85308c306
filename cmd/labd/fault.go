package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"labd/internal/faults"
)

// fault runs `labd fault set|list|clear|kinds` against the running daemon.
func (c *cli) fault(args []string) error {
	if len(args) == 0 {
		return usageError{c.tr.T("fault needs a subcommand: set, list, clear, kinds")}
	}
	fs, cfgPath := c.flags("fault " + args[0])
	user := fs.String("user", "", "only this user's sessions")
	addr := fs.String("addr", "", "only sessions from this IP address")
	dur := fs.Duration("for", faults.DefaultDuration, "how long the fault lasts; it then switches itself off")
	all := fs.Bool("all", false, "with clear: every fault")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if args[0] == "kinds" {
		tw := tabwriter.NewWriter(c.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, c.tr.T("SERVICE\tKIND\tPARAMS\tWHAT IT DOES"))
		for _, k := range faults.Kinds {
			var ps []string
			for _, p := range k.Params {
				ps = append(ps, p.Name+"="+p.Default)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Service, k.Name, strings.Join(ps, " "), c.tr.T(k.Help))
		}
		return tw.Flush()
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctl := controlFor(cfg)
	switch args[0] {
	case "set":
		if len(pos) < 2 {
			return usageError{c.tr.T("fault set SERVICE KIND [KEY=VALUE...] [--user U | --addr A] [--for 10m] (labd fault kinds lists them)")}
		}
		f := faults.Fault{Service: pos[0], Kind: pos[1], User: *user, Addr: *addr, Params: map[string]string{}}
		for _, kv := range pos[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usageError{c.tr.T("fault parameter %q: write KEY=VALUE, such as percent=20", kv)}
			}
			f.Params[k] = v
		}
		got, err := ctl.SetFault(f, *dur)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, c.tr.T("fault %d: %s for %s until %s", got.ID, got.String(), c.scope(got), got.Expires.Local().Format("15:04:05")))
	case "list", "ls":
		list, err := ctl.Faults()
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(c.stdout, c.tr.T("no fault is active"))
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, c.tr.T("ID\tFAULT\tFOR\tUNTIL\tLEFT"))
		for _, f := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", f.ID, f, c.scope(f), f.Expires.Local().Format("15:04:05"), time.Until(f.Expires).Round(time.Second))
		}
		return tw.Flush()
	case "clear":
		id := 0
		switch {
		case *all && len(pos) == 0:
		case !*all && len(pos) == 1:
			if id, err = strconv.Atoi(pos[0]); err != nil || id <= 0 {
				return usageError{c.tr.T("fault clear takes a fault ID (see labd fault list) or --all")}
			}
		default:
			return usageError{c.tr.T("fault clear takes a fault ID (see labd fault list) or --all")}
		}
		n, err := ctl.ClearFaults(id)
		if err != nil {
			return err
		}
		if n == 0 && id != 0 {
			return errors.New(c.tr.T("no active fault %d (it may have ended by itself)", id))
		}
		fmt.Fprintln(c.stdout, c.tr.T("%d fault(s) cleared", n))
	default:
		return usageError{c.tr.T("unknown fault subcommand %q", args[0])}
	}
	return nil
}

// scope is Fault.Scope in the terminal's language.
func (c *cli) scope(f faults.Fault) string {
	switch {
	case f.User != "":
		return c.tr.T("user %s", f.User)
	case f.Addr != "":
		return c.tr.T("address %s", f.Addr)
	}
	return c.tr.T("everyone")
}

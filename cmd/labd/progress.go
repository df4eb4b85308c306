package main

import (
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"
)

// progress prints who has done which exercise, from the running daemon:
// a grid, or CSV for the gradebook (user, exercise, status, time, session).
func (c *cli) progress(args []string) error {
	fs, cfgPath := c.flags("progress")
	asCSV := fs.Bool("csv", false, "CSV: user,exercise,status,time,session (status done|started|not-started)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	rep, err := controlFor(cfg).Progress()
	if err != nil {
		return err
	}
	type key struct{ user, ex string }
	got := map[key]int{}
	usersSet := map[string]bool{}
	for _, u := range rep.Students {
		usersSet[u] = true
	}
	for i, e := range rep.Progress.Entries {
		got[key{e.User, e.Exercise}] = i
		usersSet[e.User] = true
	}
	users := make([]string, 0, len(usersSet))
	for u := range usersSet {
		users = append(users, u)
	}
	sort.Strings(users)
	if *asCSV {
		w := csv.NewWriter(c.stdout)
		w.Write([]string{"user", "exercise", "status", "time", "session"})
		for _, u := range users {
			for _, ex := range rep.Exercises {
				i, ok := got[key{u, ex}]
				if !ok {
					w.Write([]string{u, ex, "not-started", "", ""})
					continue
				}
				e := rep.Progress.Entries[i]
				w.Write([]string{u, ex, e.Status, e.Time.Format(time.RFC3339), strconv.FormatUint(e.Session, 10)})
			}
		}
		w.Flush()
		return w.Error()
	}
	if len(users) == 0 {
		fmt.Fprintln(c.stdout, c.tr.T("no progress yet on the %d exercises", len(rep.Exercises)))
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 8, 2, ' ', 0)
	for _, u := range users {
		fmt.Fprintf(tw, "%s\n", u)
		for _, ex := range rep.Exercises {
			i, ok := got[key{u, ex}]
			if !ok {
				continue
			}
			e := rep.Progress.Entries[i]
			line := "  " + ex + "\t" + c.tr.T(e.Status) + "\t" + e.Time.Local().Format("15:04") + "\t" + c.tr.T("session %s", strconv.FormatUint(e.Session, 10))
			if m := e.MissingIn(c.tr.Lang()); m != "" {
				line += "\t" + c.tr.T("missing: %s", m)
			}
			fmt.Fprintln(tw, line)
		}
	}
	if n := len(rep.Progress.Unattributed); n > 0 {
		fmt.Fprintln(tw, c.tr.T("unattributed (assign them on the dashboard's Progress page):"))
		for _, u := range rep.Progress.Unattributed {
			fmt.Fprintln(tw, "  "+u.Exercise+"\t"+c.tr.T("session %s", strconv.FormatUint(u.Session, 10))+"\t"+c.tr.T("from %s", u.Remote))
		}
	}
	return tw.Flush()
}

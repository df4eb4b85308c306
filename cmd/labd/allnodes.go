package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/fsroot"
	"labd/internal/sessionlog"
	"labd/internal/sessions"
	"labd/internal/store"
)

// openSessionLog opens the store of cfg for its shared session log.
func (c *cli) openSessionLog(cfg *config.Config) (*store.DB, error) {
	if cfg.Store.Driver != "postgres" {
		return nil, errors.New(c.tr.T("the sessions of other labd hosts are in the shared database: this host has store.driver %s (one host; plain `labd sessions` shows all of it)", cfg.Store.Driver))
	}
	return daemon.OpenStore(cfg, fsroot.Layout{DataDir: cfg.Server.DataDir}, 0, nil)
}

// allNodes prints every host's sessions: this host's from its daemon (live
// figures), the others' from the shared session log. Without a daemon
// here, this node's are read from the log too.
func (c *cli) allNodes(cfg *config.Config, ctl *daemon.Control, live bool) error {
	st, err := c.openSessionLog(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	var list []sessions.Info
	except := ""
	if own, err := ctl.Sessions(); err == nil {
		except = cfg.Server.Node
		for _, in := range own {
			in.Node = cfg.Server.Node
			list = append(list, in)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logged, err := st.ListSessions(ctx, store.SessionQuery{ExceptNode: except, Limit: 5000})
	if err != nil {
		return err
	}
	for _, x := range logged {
		list = append(list, sessionlog.Info(x))
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Start.Before(list[j].Start) })
	return c.printSessions(list, live, true)
}

// remoteTranscript prints the transcript of a session of another host, as
// copied to the shared log when it ended.
func (c *cli) remoteTranscript(cfg *config.Config, node string, id uint64, unmask bool) error {
	st, err := c.openSessionLog(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := st.SessionOf(ctx, node, 0, id)
	if err != nil {
		return err
	}
	entries, err := sessionlog.Transcript(x)
	if err != nil {
		return fmt.Errorf("%s: %w", c.tr.T("transcript of session %s on %s", strconv.FormatUint(id, 10), node), err)
	}
	if x.State == "open" {
		fmt.Fprintln(c.stdout, c.tr.T("(session %s on %s is still open: its transcript is copied when it ends)", strconv.FormatUint(id, 10), node))
	} else if x.Transcript == nil {
		fmt.Fprintln(c.stdout, c.tr.T("(the transcript of session %s on %s was not kept: only the newest sessions' are)", strconv.FormatUint(id, 10), node))
	}
	d := daemon.SessionDetail{Info: sessionlog.Info(x), Transcript: entries}
	if unmask {
		c.printTranscript(d)
	} else {
		c.printMasked(d)
	}
	return nil
}

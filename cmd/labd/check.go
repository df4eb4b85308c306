package main

import (
	"errors"
	"fmt"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/service"
	"labd/services"
)

// check validates the config (errors name file, line and key), runs each
// service's own checks (zone files...), then tries every listen address.
func (c *cli) check(args []string) error {
	fs, cfgPath := c.flags("check")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	where := *cfgPath
	if where == "" {
		where = c.tr.T("the lab profile")
	}
	fmt.Fprintln(c.stdout, c.tr.T("%s: config is valid", where))
	var problems int
	if ex, err := daemon.LoadExercises(cfg); err != nil {
		fmt.Fprintf(c.stdout, "%v\n", err)
		problems++
	} else if len(ex) > 0 {
		fmt.Fprintln(c.stdout, c.tr.T("exercises: %d declared", len(ex)))
	}
	for _, b := range services.All() {
		if b.Check == nil || !b.Enabled(cfg) {
			continue
		}
		if err := b.Check(cfg); err != nil {
			fmt.Fprintf(c.stdout, "%s: %v\n", b.Name, err)
			problems++
		}
	}
	var eps []service.Endpoint
	for _, e := range cfg.Endpoints() {
		state := "free"
		if err := tryBind(e); err != nil {
			state = "PROBLEM"
			fmt.Fprintf(c.stdout, "%v\n", err)
			problems++
		}
		eps = append(eps, service.Endpoint{Service: e.Service, Network: e.Network, Addr: e.Addr, State: state})
	}
	daemon.PrintTable(c.stdout, eps, c.tr)
	if problems > 0 {
		return errors.New(c.tr.T("%d problem(s) found; labd serve would not start", problems))
	}
	fmt.Fprintln(c.stdout, c.tr.T("every listen address can be bound: labd serve can start"))
	return nil
}

func tryBind(e config.Endpoint) error {
	if e.Network == "udp" {
		pc, err := service.ListenUDP(e.Service, e.Addr)
		if err != nil {
			return err
		}
		return pc.Close()
	}
	ln, err := service.ListenTCP(e.Service, e.Addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

package main

import (
	"fmt"
	"net"
	"strings"

	"labd/internal/fsroot"
	sshsvc "labd/services/ssh"
)

// hostkeys prints the SSH host key fingerprints, so that the instructor can
// hand them out before students accept the key in PuTTY or ssh. The keys
// are generated if labd has not started yet.
func (c *cli) hostkeys(args []string) error {
	fs, cfgPath := c.flags("hostkeys")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{c.tr.T("hostkeys takes no arguments besides --config: %s", strings.Join(pos, " "))}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	if err := layout.Ensure(); err != nil {
		return err
	}
	fps, keys, err := sshsvc.HostKeyFingerprints(layout)
	if err != nil {
		return err
	}
	var created []string
	for _, k := range keys {
		if k.Created {
			created = append(created, k.Path, k.Path+".pub")
		}
	}
	if len(created) > 0 {
		fixOwnership(cfg, append([]string{layout.KeyDir()}, created...)...)
		fmt.Fprint(c.stdout, c.tr.T("(host keys generated now in %s: labd will use them)", layout.KeyDir())+"\n\n")
	}
	host, port := "HOST", "22"
	if len(cfg.SSH.Listen) > 0 {
		if h, p, err := net.SplitHostPort(cfg.SSH.Listen[0]); err == nil {
			port = p
			if h != "" && h != "0.0.0.0" && h != "::" {
				host = h
			}
		}
	}
	fmt.Fprintln(c.stdout, c.tr.T("SSH host keys of this labd (what PuTTY and ssh ask students to accept):"))
	for _, f := range fps {
		fmt.Fprintf(c.stdout, "\n  %s %d  %s\n", f.Type, f.Bits, f.SHA256)
		fmt.Fprintln(c.stdout, "    "+c.tr.T("MD5 (older PuTTY): %s", f.MD5))
		fmt.Fprintln(c.stdout, "    "+c.tr.T("file: %s", f.Path))
	}
	fmt.Fprintln(c.stdout, "\n"+c.tr.T("plink in batch mode (accepts either key):"))
	var hk []string
	for _, f := range fps {
		hk = append(hk, "-hostkey "+f.SHA256)
	}
	p := ""
	if port != "22" {
		p = " -P " + port
	}
	fmt.Fprintf(c.stdout, "  plink -batch%s %s alice@%s whoami\n", p, strings.Join(hk, " "), host)
	fmt.Fprintln(c.stdout, "\n"+c.tr.T("known_hosts lines (ssh -o UserKnownHostsFile=FILE):"))
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	for _, f := range fps {
		fmt.Fprintf(c.stdout, "  %s %s\n", name, f.AuthorizedKey)
	}
	return nil
}

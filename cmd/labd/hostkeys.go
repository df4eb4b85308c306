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
		return usageError{"hostkeys takes no arguments besides --config: " + strings.Join(pos, " ")}
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
		fmt.Fprintf(c.stdout, "(host keys generated now in %s: labd will use them)\n\n", layout.KeyDir())
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
	fmt.Fprintln(c.stdout, "SSH host keys of this labd (what PuTTY and ssh ask students to accept):")
	for _, f := range fps {
		fmt.Fprintf(c.stdout, "\n  %s %d  %s\n", f.Type, f.Bits, f.SHA256)
		fmt.Fprintf(c.stdout, "    MD5 (older PuTTY): %s\n", f.MD5)
		fmt.Fprintf(c.stdout, "    file: %s\n", f.Path)
	}
	fmt.Fprintln(c.stdout, "\nplink in batch mode (accepts either key):")
	var hk []string
	for _, f := range fps {
		hk = append(hk, "-hostkey "+f.SHA256)
	}
	p := ""
	if port != "22" {
		p = " -P " + port
	}
	fmt.Fprintf(c.stdout, "  plink -batch%s %s alice@%s whoami\n", p, strings.Join(hk, " "), host)
	fmt.Fprintln(c.stdout, "\nknown_hosts lines (ssh -o UserKnownHostsFile=FILE):")
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	for _, f := range fps {
		fmt.Fprintf(c.stdout, "  %s %s\n", name, f.AuthorizedKey)
	}
	return nil
}

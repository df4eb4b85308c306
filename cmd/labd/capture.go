package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// capture writes many sessions as one pcapng file, in time order: the
// "capture of the whole lab" that a teacher opens on the projector.
func (c *cli) capture(args []string) error {
	fs, cfgPath := c.flags("capture")
	user := fs.String("user", "", "only this user's sessions")
	proto := fs.String("protocol", "", "only this protocol (smtp, http, dns...)")
	since := fs.String("since", "", "only sessions of the last DURATION (10m, 2h)")
	out := fs.String("o", "", "output file (- for standard output)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"user": *user, "protocol": *proto, "since": *since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	ctl := controlFor(cfg)
	return c.writeOut(*out, func(w io.Writer) error { return ctl.ClassCapture(q, w) })
}

// writeOut runs write into the file name, atomically (a failed export
// leaves no half file), or into standard output for "-".
func (c *cli) writeOut(name string, write func(io.Writer) error) error {
	switch name {
	case "":
		return errors.New(c.tr.T("say where to write the capture: -o FILE.pcapng (or -o - for standard output)"))
	case "-":
		bw := bufio.NewWriter(c.stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".labd-capture-*")
	if err != nil {
		return fmt.Errorf("%s: %w", c.tr.T("create %s", name), err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", c.tr.T("write %s", name), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("%s: %w", c.tr.T("write %s", name), err)
	}
	fmt.Fprintln(c.stderr, c.tr.T("wrote %s: open it with wireshark %s", name, name))
	return nil
}

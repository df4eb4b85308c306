package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"labd/config"
	"labd/internal/daemon"
	"labd/internal/dashboard"
	"labd/internal/fsroot"
	"labd/internal/sessions"
)

func controlFor(cfg *config.Config) *daemon.Control {
	return daemon.DialControl(fsroot.Layout{DataDir: cfg.Server.DataDir}.ControlSocket())
}

// sessions prints the running daemon's sessions like ss -tan, plus
// protocol and user, or one session's transcript.
func (c *cli) sessions(args []string) error {
	fs, cfgPath := c.flags("sessions")
	transcript := fs.Uint64("transcript", 0, "print the transcript of session ID")
	live := fs.Bool("live", false, "only sessions still open")
	pcap := fs.Uint64("pcap", 0, "write session ID (with its FTP data connections) as a pcapng file for Wireshark")
	out := fs.String("o", "", "file for --pcap (- for standard output)")
	flow := fs.Uint64("flow", 0, "print session ID as a ladder diagram (secrets masked)")
	unmask := fs.Bool("unmask", false, "with --transcript: show passwords and other secrets in clear (they are masked by default)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctl := controlFor(cfg)
	if *flow != 0 {
		d, err := ctl.Session(*flow)
		if err != nil {
			return err
		}
		_, err = io.WriteString(c.stdout, dashboard.FlowOf(d.Info, d.Transcript, false).In(c.tr).Text())
		return err
	}
	if *pcap != 0 {
		return c.writeOut(*out, func(w io.Writer) error { return ctl.Capture(*pcap, w) })
	}
	if *transcript != 0 {
		d, err := ctl.Session(*transcript)
		if err != nil {
			return err
		}
		if *unmask {
			c.printTranscript(d)
		} else {
			c.printMasked(d)
		}
		return nil
	}
	list, err := ctl.Sessions()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	// The states are those of ss and RFC 793 (ESTAB, CLOSED, UNCONN): the
	// class compares this table with ss -tan, so they stay as ss writes them.
	fmt.Fprintln(tw, c.tr.T("ID\tPROTO\tSTATE\tLOCAL\tPEER\tUSER\tSTART\tDURATION\tIN\tOUT"))
	for _, s := range list {
		if *live && !s.Open {
			continue
		}
		state := "CLOSED"
		end := s.End
		if s.Open {
			state, end = "ESTAB", time.Now()
			if s.Transport == "udp" {
				state = "UNCONN"
			}
		}
		proto := s.Proto
		if s.TLS {
			proto += "+tls"
		}
		user := s.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", s.ID, proto, state, s.Local, s.Remote, user,
			s.Start.Format("15:04:05"), end.Sub(s.Start).Round(time.Millisecond), s.BytesIn, s.BytesOut)
	}
	return tw.Flush()
}

// sessionHead is the first line of a printed transcript, without its end.
func (c *cli) sessionHead(in sessions.Info) string {
	// The ID as %s: the catalog's %d groups digits ("12,345"), and the ID
	// is what --transcript, --flow and --pcap take.
	s := c.tr.T("session %s: %s over %s, %s -> %s", strconv.FormatUint(in.ID, 10), in.Proto, in.Transport, in.Remote, in.Local)
	if in.User != "" {
		s += c.tr.T(", user %s", in.User)
	}
	return s
}

func (c *cli) printTranscript(d daemon.SessionDetail) {
	w := c.stdout
	in := d.Info
	fmt.Fprintln(w, c.sessionHead(in)+c.tr.T(", %d bytes in, %d out", in.BytesIn, in.BytesOut))
	for _, e := range d.Transcript {
		ts := e.Time.Format("15:04:05.000")
		switch {
		case e.Dir == sessions.Note:
			fmt.Fprintf(w, "%s  *  %s\n", ts, e.Data)
		case e.Data == nil:
			fmt.Fprintf(w, "%s  %s  [%s]\n", ts, arrow(e.Dir), c.tr.T("%d bytes encrypted", e.Len))
		default:
			for _, line := range strings.SplitAfter(string(e.Data), "\n") {
				if line == "" {
					continue
				}
				fmt.Fprintf(w, "%s  %s  %s\n", ts, arrow(e.Dir), strconv.Quote(line)[1:len(strconv.Quote(line))-1])
			}
		}
	}
	if in.Truncated {
		fmt.Fprintln(w, c.tr.T("(transcript truncated at sessions.transcript_bytes)"))
	}
}

// printMasked prints a transcript as the dashboard shows it by default:
// line by line, with passwords, SASL payloads and cookies masked, since a
// terminal may be projected or shared like the dashboard.
func (c *cli) printMasked(d daemon.SessionDetail) {
	w := c.stdout
	in := d.Info
	fmt.Fprintln(w, c.sessionHead(in)+c.tr.T(", %d bytes in, %d out (secrets masked; --unmask shows them)", in.BytesIn, in.BytesOut))
	for _, l := range dashboard.Transcript(in, d.Transcript, false) {
		dir := map[string]string{"C": "C>", "S": "S<", "*": " *"}[l.Dir]
		fmt.Fprintf(w, "%s  %s  %s\n", l.Time.Format("15:04:05.000"), dir, l.Text())
	}
	if in.Truncated {
		fmt.Fprintln(w, c.tr.T("(transcript truncated at sessions.transcript_bytes)"))
	}
}

func arrow(d sessions.Direction) string {
	if d == sessions.FromClient {
		return "C>"
	}
	return "S<"
}

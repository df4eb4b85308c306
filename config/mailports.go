package config

import (
	"net"
	"strconv"
)

// MailPorts are the ports mail clients are told about (RFC 6186 SRV
// records, Thunderbird autoconfig, Outlook autodiscover): the first
// configured listen address of each service, 0 when the service is off or
// has no fixed port.
type MailPorts struct {
	IMAP, IMAPS, POP3, POP3S, Submission, Submissions int
}

// MailPorts returns the configured mail ports.
func (c *Config) MailPorts() MailPorts {
	first := func(on bool, addrs []string) int {
		if !on || len(addrs) == 0 {
			return 0
		}
		_, p, err := net.SplitHostPort(addrs[0])
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(p)
		return n
	}
	return MailPorts{
		IMAP: first(c.IMAP.Enabled, c.IMAP.Listen), IMAPS: first(c.IMAP.Enabled, c.IMAP.TLSListen),
		POP3: first(c.POP3.Enabled, c.POP3.Listen), POP3S: first(c.POP3.Enabled, c.POP3.TLSListen),
		Submission: first(c.SMTP.Enabled, c.SMTP.SubmissionListen), Submissions: first(c.SMTP.Enabled, c.SMTP.TLSListen),
	}
}

// MailHost is the name mail clients should use: mail.<domain>, which the
// built-in zone resolves and labd's certificate names (clients such as
// fetchmail, mbsync and s-nail check names, not IP addresses).
func (c *Config) MailHost() string { return "mail." + c.Server.Domain }

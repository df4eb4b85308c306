// Package services lists labd's protocol services, one line each: the only
// place a new protocol package is wired into the daemon.
package services

import (
	"labd/config"
	"labd/internal/service"
	dnssvc "labd/services/dns"
	ftpsvc "labd/services/ftp"
	httpsvc "labd/services/http"
	imapsvc "labd/services/imap"
	pop3svc "labd/services/pop3"
	smtpsvc "labd/services/smtp"
	sshsvc "labd/services/ssh"
	telnetsvc "labd/services/telnet"
	tftpsvc "labd/services/tftp"
)

// All returns the builders of every protocol service, in start order.
func All() []service.Builder {
	return []service.Builder{
		{Name: "http", Enabled: func(c *config.Config) bool { return c.HTTP.Enabled }, New: httpsvc.New},
		{Name: "dns", Enabled: func(c *config.Config) bool { return c.DNS.Enabled }, New: dnssvc.New, Check: dnssvc.Check},
		{Name: "ftp", Enabled: func(c *config.Config) bool { return c.FTP.Enabled }, New: ftpsvc.New},
		{Name: "tftp", Enabled: func(c *config.Config) bool { return c.TFTP.Enabled }, New: tftpsvc.New},
		{Name: "telnet", Enabled: func(c *config.Config) bool { return c.Telnet.Enabled }, New: telnetsvc.New},
		{Name: "smtp", Enabled: func(c *config.Config) bool { return c.SMTP.Enabled }, New: smtpsvc.New},
		{Name: "pop3", Enabled: func(c *config.Config) bool { return c.POP3.Enabled }, New: pop3svc.New},
		{Name: "imap", Enabled: func(c *config.Config) bool { return c.IMAP.Enabled }, New: imapsvc.New},
		{Name: "ssh", Enabled: func(c *config.Config) bool { return c.SSH.Enabled }, New: sshsvc.New, Check: sshsvc.Check},
	}
}

// Package services lists labd's protocol services, one line each: the only
// place a new protocol package is wired into the daemon.
package services

import (
	"labd/config"
	"labd/internal/service"
	httpsvc "labd/services/http"
	sshsvc "labd/services/ssh"
	"labd/services/telnet"
)

// All returns the builders of every protocol service, in start order.
func All() []service.Builder {
	return []service.Builder{
		{Name: "http", Enabled: func(c *config.Config) bool { return c.HTTP.Enabled }, New: httpsvc.New},
		{Name: "ssh", Enabled: func(c *config.Config) bool { return c.SSH.Enabled }, New: sshsvc.New, Check: sshsvc.Check},
		{Name: "telnet", Enabled: func(c *config.Config) bool { return c.Telnet.Enabled }, New: telnet.New},
	}
}

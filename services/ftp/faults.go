package ftp

import (
	"net"

	"labd/internal/sessions"
)

// blockActive plays a firewall that drops the connections the server
// opens to the client (the ftp block-active fault): a PORT or EPRT command
// is answered 200 here, as the server would, and never reaches the
// library; the transfer that follows then fails with 425 because no data
// connection can be opened. It returns the reply, or "" to go on.
func (c *ctrlConn) blockActive(verb string) string {
	if verb != "PORT" && verb != "EPRT" || c.client == nil || c.client.svc == nil {
		return ""
	}
	set := c.client.svc.deps.Faults
	if !set.Any() {
		return ""
	}
	f, ok := set.Match("ftp", "block-active", c.client.userName(), c.client.remote)
	if !ok {
		return ""
	}
	c.client.note("fault %d (%s): %s accepted, but the connection to the client will be dropped as by a firewall", f.ID, f, verb)
	return "200 " + verb + " command successful\r\n"
}

// refusePassive closes a passive data connection as a firewall in front
// of the server would refuse it (the ftp block-passive fault).
func (l *dataListener) refusePassive(c net.Conn, cl *client) bool {
	user := ""
	if cl != nil {
		user = cl.userName()
	}
	f, ok := l.svc.deps.Faults.Match("ftp", "block-passive", user, c.RemoteAddr().String())
	if !ok {
		return false
	}
	if tc, ok := c.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0)
	}
	c.Close()
	if cl != nil {
		cl.note("fault %d (%s): passive data connection from %s refused as by a firewall", f.ID, f, c.RemoteAddr())
	}
	return true
}

// onlyClientFrom returns the logged-in control connection from ip when
// there is exactly one (behind a shared address, none: never guess).
func (s *Service) onlyClientFrom(ip string) *client {
	var match *client
	count := 0
	s.clients.Range(func(_, v any) bool {
		cl := v.(*client)
		if sessions.Host(cl.remote) == ip && cl.userName() != "" {
			match = cl
			count++
		}
		return true
	})
	if count != 1 {
		return nil
	}
	return match
}

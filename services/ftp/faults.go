package ftp

import (
	"bytes"
	"net"
	"strings"
)

// blockActive plays a firewall that drops the connections the server
// opens to the client (the ftp block-active fault): a PORT or EPRT line at
// the head of pending is taken out before the library sees it and
// answered 200, as the server would; the transfer that follows then fails
// with 425 because no data connection can be opened. It says whether it
// consumed a line.
func (c *ctrlConn) blockActive() bool {
	set := c.client.svc.deps.Faults
	if !set.Any() || len(c.pending) < 4 {
		return false
	}
	verb := strings.ToUpper(string(c.pending[:4]))
	if verb != "PORT" && verb != "EPRT" {
		return false
	}
	i := bytes.IndexByte(c.pending, '\n')
	if i < 0 {
		return false
	}
	f, ok := set.Match("ftp", "block-active", c.client.userName(), c.client.remote)
	if !ok {
		return false
	}
	c.pending = c.pending[i+1:]
	_, _ = c.Write([]byte("200 " + verb + " command successful\r\n"))
	c.client.note("fault %d (%s): %s accepted, but the connection to the client will be dropped as by a firewall", f.ID, f, verb)
	return true
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
		if hostOf(cl.remote) == ip && cl.userName() != "" {
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

package imap

import (
	"github.com/emersion/go-imap/v2"
)

// fault applies the teacher's IMAP fault of kind, if one is active for
// this session: unavailable (NO [UNAVAILABLE] to a login), inuse (NO
// [INUSE] to SELECT/EXAMINE), bye (BYE and close, in place of the answer
// to the command). user is the name being logged in as before login.
func (ss *session) fault(kind, user string) error {
	set := ss.s.deps.Faults
	if !set.Any() {
		return nil
	}
	if user == "" {
		user = ss.user
	}
	f, ok := set.Match("imap", kind, user, ss.conn.NetConn().RemoteAddr().String())
	if !ok {
		return nil
	}
	if ss.rec != nil {
		ss.rec.Notef("fault %d (%s): %s", f.ID, f, map[string]string{
			"unavailable": "NO [UNAVAILABLE] to the login",
			"inuse":       "NO [INUSE] to the mailbox",
			"bye":         "BYE in the middle of the session",
		}[kind])
	}
	switch kind {
	case "unavailable":
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Temporary failure, try again later (a fault the teacher switched on)"}
	case "inuse":
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "Mailbox in use by another session, try again later"}
	}
	return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server closing the connection (a fault the teacher switched on)"}
}

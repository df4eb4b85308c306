package pop3

import "labd/internal/faults"

// fault returns the teacher's POP3 fault of kind for this session, noting
// it in the transcript. user is the name being logged in as before login.
func (p *conn) fault(kind, user string) (faults.Fault, bool) {
	set := p.s.deps.Faults
	if !set.Any() {
		return faults.Fault{}, false
	}
	if user == "" {
		user = p.user
	}
	f, ok := set.Match("pop3", kind, user, p.raw.RemoteAddr().String())
	if ok && p.sess != nil {
		p.sess.Notef("fault %d (%s): %s", f.ID, f, map[string]string{
			"unavailable": "-ERR [SYS/TEMP] to the login",
			"inuse":       "-ERR [IN-USE] to the login",
			"bye":         "connection closed in the middle of the session; no message deleted",
		}[kind])
	}
	return f, ok
}

package smtp

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"labd/internal/faults"
	"labd/internal/sessions"
)

// greylist remembers when a (client address, sender, recipient) triplet
// was first seen while the greylist fault is on.
type greylist struct {
	mu    sync.Mutex
	first map[[3]string]time.Time
}

func (g *greylist) seen(key [3]string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.first == nil {
		g.first = map[[3]string]time.Time{}
	}
	if len(g.first) > 10000 {
		// Bounded: a class does not need more; start over.
		clear(g.first)
	}
	t, ok := g.first[key]
	if !ok {
		g.first[key] = now
		return now
	}
	return t
}

func faultCode(f faults.Fault) (int, gosmtp.EnhancedCode) {
	code, _ := strconv.Atoi(f.Params["code"])
	switch code {
	case 421:
		return 421, gosmtp.EnhancedCode{4, 3, 0}
	case 452:
		return 452, gosmtp.EnhancedCode{4, 3, 1}
	}
	return 451, gosmtp.EnhancedCode{4, 3, 0}
}

func (s *session) note(f faults.Fault, format string, args ...any) {
	if s.sess != nil {
		s.sess.Notef("fault %d (%s): %s", f.ID, f, fmt.Sprintf(format, args...))
	}
}

// faultRcpt applies tempfail at RCPT and greylisting.
func (s *session) faultRcpt(to string) error {
	set := s.svc.deps.Faults
	remote := s.conn.Conn().RemoteAddr().String()
	if f, ok := set.Match("smtp", "tempfail", s.authUser, remote); ok && f.Params["stage"] == "rcpt" {
		code, enh := faultCode(f)
		s.note(f, "%d to RCPT TO:<%s>", code, to)
		return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: fmt.Sprintf("<%s>: temporary failure, try again later", to)}
	}
	if f, ok := set.Match("smtp", "greylist", s.authUser, remote); ok {
		delay := f.Duration("delay")
		now := time.Now()
		first := s.svc.grey.seen([3]string{s.ip.String(), s.from, to}, now)
		if wait := delay - now.Sub(first); wait > 0 {
			s.note(f, "greylisted %s <%s> -> <%s>: a retry after %s is accepted", s.ip, s.from, to, wait.Round(time.Second))
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1},
				Message: fmt.Sprintf("<%s>: Greylisted, please try again in %d seconds", to, int(wait.Round(time.Second).Seconds()+0.5))}
		}
		s.note(f, "greylist passed for %s <%s> -> <%s> (first seen %s ago)", s.ip, s.from, to, now.Sub(first).Round(time.Second))
	}
	return nil
}

// faultData applies tempfail after DATA, before anything is committed:
// the client keeps the message and sends it again, so it is stored once.
func (s *session) faultData() error {
	f, ok := s.svc.deps.Faults.Match("smtp", "tempfail", s.authUser, s.conn.Conn().RemoteAddr().String())
	if !ok || f.Params["stage"] != "data" {
		return nil
	}
	code, enh := faultCode(f)
	s.note(f, "%d after DATA, nothing stored", code)
	return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: "Temporary local problem, message not accepted; try again later"}
}

// refuseAtConnect answers 421 at connect when the tempfail fault's stage
// is connect, and says whether the connection was refused.
func (sv *Service) refuseAtConnect(c net.Conn) bool {
	f, ok := sv.deps.Faults.Match("smtp", "tempfail", "", c.RemoteAddr().String())
	if !ok || f.Params["stage"] != "connect" {
		return false
	}
	fmt.Fprintf(c, "421 4.3.2 %s Service not available, closing transmission channel; try again later\r\n", sv.deps.Config.FQDN())
	if s := sessions.FromConn(c); s != nil {
		s.Notef("fault %d (%s): 421 at connect", f.ID, f)
	}
	c.Close()
	return true
}

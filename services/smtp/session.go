package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"labd/internal/budget"
	"labd/internal/mail"
	"labd/internal/sessions"
	"labd/internal/store"
)

type backend struct {
	svc  *Service
	kind string
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	lc, _ := c.Conn().(*lineConn)
	s := &session{svc: b.svc, kind: b.kind, conn: c, lc: lc, sess: sessions.FromConn(c.Conn())}
	if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		s.ip, _ = netip.AddrFromSlice(ta.IP)
		s.ip = s.ip.Unmap()
	}
	s.log = b.svc.log.With("endpoint", b.kind, "remote", c.Conn().RemoteAddr().String())
	if s.sess != nil && c.Hostname() != "" {
		s.sess.SetAttr("helo", c.Hostname())
	}
	return s, nil
}

type session struct {
	svc  *Service
	kind string
	conn *gosmtp.Conn
	lc   *lineConn
	sess *sessions.Session
	ip   netip.Addr
	log  *slog.Logger

	authUser  string
	authFails int

	from  string
	users []string // resolved local users, deduplicated
	rcpts []string // addresses as given

	// delivered and refused are this connection's tally, kept in the
	// session's attributes for the dashboard and the metrics.
	delivered int
	refused   map[string]int
}

// Reasons a mail or a recipient is refused, as the session attribute
// mails_refused and the metric labd_mails_refused_total name them.
const (
	refusedNoSuchUser   = "no_such_user"
	refusedBadAddress   = "bad_address"
	refusedRelay        = "relay_denied"
	refusedLookup       = "lookup_failed"
	refusedStorage      = "storage_full"
	refusedTooBig       = "too_big"
	refusedDelivery     = "delivery_failed"
	refusedFault        = "fault"
	refusedAuthRequired = "auth_required"
)

// refuse counts one refusal and returns err, so that each refusal site
// stays one statement.
func (s *session) refuse(reason string, err error) error {
	if s.refused == nil {
		s.refused = map[string]int{}
	}
	s.refused[reason]++
	if s.sess != nil {
		s.sess.SetAttr("mails_refused", tally(s.refused))
	}
	return err
}

// tally writes counts as "reason:n reason:n", sorted by reason.
func tally(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}

func (s *session) isTLS() bool { return s.lc != nil && s.lc.tls }

func (s *session) submission() bool { return s.kind != kindMX }

func (s *session) Reset() {
	s.from, s.users, s.rcpts = "", nil, nil
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.submission() && s.authUser == "" {
		return s.refuse(refusedAuthRequired, &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
			Message: "Authentication required: this is a submission port, log in with AUTH PLAIN or AUTH LOGIN first (port 25 takes mail for local users without login)"})
	}
	s.Reset()
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user, err := s.svc.deliver.Resolve(ctx, to)
	if err == nil {
		if ferr := s.faultRcpt(to); ferr != nil {
			return s.refuse(refusedFault, ferr)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, mail.ErrBadAddress):
		return s.refuse(refusedBadAddress, &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: fmt.Sprintf("<%s>: bad recipient address syntax", to)})
	case errors.Is(err, mail.ErrNoUser):
		s.log.Info("recipient refused: unknown user", "rcpt", to)
		return s.refuse(refusedNoSuchUser, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: fmt.Sprintf("<%s>: Recipient address rejected: no such user here", to)})
	case errors.Is(err, mail.ErrNotLocal):
		if s.authUser != "" || s.svc.relayAllowed(s.ip) {
			s.log.Warn("relay refused: labd does not relay outside the lab", "rcpt", to, "user", s.authUser)
			if s.sess != nil {
				s.sess.Notef("refused relay to <%s>: labd does not relay outside the lab", to)
			}
			return s.refuse(refusedRelay, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
				Message: fmt.Sprintf("<%s>: labd does not relay mail outside the lab; only %s are delivered here", to, strings.Join(s.svc.deliver.Domains, ", "))})
		}
		s.log.Info("relay denied", "rcpt", to)
		if s.sess != nil {
			s.sess.Notef("relay access denied for <%s>", to)
		}
		return s.refuse(refusedRelay, &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: fmt.Sprintf("<%s>: Relay access denied", to)})
	default:
		s.log.Error("recipient lookup failed", "rcpt", to, "err", err)
		return s.refuse(refusedLookup, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure looking up the recipient, try again"})
	}
	s.rcpts = append(s.rcpts, to)
	if !slices.Contains(s.users, user) {
		s.users = append(s.users, user)
	}
	return nil
}

func (s *session) Data(r io.Reader) error {
	br := budget.NewReader(r, s.svc.deps.Inflight)
	defer br.Close()
	body, err := io.ReadAll(br)
	if br.Exhausted() {
		s.log.Warn("message refused: in-flight message budget used up", "bytes_read", len(body))
		if s.sess != nil {
			s.sess.Notef("DATA refused with 452: the server holds too many message bytes right now (limits.inflight_message_bytes)")
		}
		return s.refuse(refusedStorage, &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage: too many large messages in flight, try again in a minute"})
	}
	if err != nil {
		if errors.Is(err, gosmtp.ErrDataTooLarge) {
			return s.refuse(refusedTooBig, err)
		}
		return err
	}
	if len(s.users) == 0 {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	if err := s.faultData(); err != nil {
		return s.refuse(refusedFault, err)
	}
	id := mail.NewID()
	with := "SMTP"
	if s.lc == nil || s.lc.ehlo || s.isTLS() || s.authUser != "" {
		with = "ESMTP"
	}
	if s.isTLS() {
		with += "S"
	}
	if s.authUser != "" {
		with += "A"
	}
	tr := mail.Trace{Helo: s.conn.Hostname(), ClientAddr: s.ip.String(), AuthUser: s.authUser, With: with, ID: id}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.svc.deliver.Deliver(ctx, s.from, s.users, body, tr); err != nil {
		s.log.Error("delivery failed", "id", id, "err", err)
		return s.refuse(refusedDelivery, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Local delivery failed, try again later"})
	}
	s.delivered++
	msgID := messageID(body)
	s.log.Info("delivered", "id", id, "message_id", msgID, "from", s.from, "to", strings.Join(s.users, ","), "bytes", len(body), "user", s.authUser)
	if s.sess != nil {
		s.sess.Notef("delivered %s (Message-ID %s) from <%s> to %s (%d bytes)", id, msgID, s.from, strings.Join(s.users, ", "), len(body))
		s.sess.SetAttr("mails_delivered", strconv.Itoa(s.delivered))
	}
	// go-smtp writes the code and text of a *SMTPError whatever the code:
	// a 250 here replaces its generic "OK: queued".
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0},
		Message: fmt.Sprintf("Ok: delivered to %d mailbox(es) as %s", len(s.users), id)}
}

// messageID returns the Message-ID header of a message, or "none".
func messageID(body []byte) string {
	m, err := netmail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		return "none"
	}
	if id := strings.TrimSpace(m.Header.Get("Message-Id")); id != "" {
		return id
	}
	return "none"
}

// AuthMechanisms implements gosmtp.AuthSession.
func (s *session) AuthMechanisms() []string {
	if s.svc.cfg.RequireTLSForAuth && !s.isTLS() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements gosmtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.svc.cfg.RequireTLSForAuth && !s.isTLS() {
		return nil, &gosmtp.SMTPError{Code: 538, EnhancedCode: gosmtp.EnhancedCode{5, 7, 11}, Message: "Encryption required: issue STARTTLS first (smtp.require_tls_for_auth is on)"}
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed: authorisation identity must be empty or the user name"}
			}
			return s.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: s.login}, nil
	}
	return nil, &gosmtp.SMTPError{Code: 504, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: fmt.Sprintf("Unsupported authentication mechanism %q: use PLAIN or LOGIN", mech)}
}

func (s *session) login(user, pass string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := s.svc.deps.Guard.Authenticate(ctx, "smtp", s.conn.Conn().RemoteAddr().String(), user, pass)
	if err != nil {
		if !errors.Is(err, store.ErrAuthFailed) {
			s.log.Error("authentication error", "user", user, "err", err)
			return &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
		}
		s.authFails++
		s.log.Info("authentication failed", "user", user, "failures", s.authFails)
		if s.sess != nil {
			s.sess.Notef("AUTH failed for %q", user)
		}
		time.Sleep(s.svc.AuthFailDelay)
		if s.authFails >= s.svc.MaxAuthFailures {
			if s.lc != nil {
				s.lc.closeAfterWrite = true
			}
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed: wrong user name or password; too many failures, closing the connection"}
		}
		return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed: wrong user name or password"}
	}
	s.authUser = u.Name
	if s.sess != nil {
		s.sess.SetUser(u.Name)
	}
	s.log.Info("authenticated", "user", u.Name)
	return nil
}

// loginServer is the server side of the AUTH LOGIN mechanism
// (draft-murchison-sasl-login): go-sasl only has a client for it.
type loginServer struct {
	check    func(user, pass string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough // initial response: the user name
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if err := l.check(l.username, string(response)); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, errors.New("unexpected AUTH LOGIN response")
}

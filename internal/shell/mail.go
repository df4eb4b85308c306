package shell

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"

	"labd/internal/mail"
	"labd/internal/store"
)

func cmdMail(s *Shell, c *call) int {
	if s.env.Deps.Store == nil {
		return c.failf("no mail store")
	}
	if len(c.args) == 0 {
		return s.mailList(c)
	}
	if c.args[0] == "send" {
		return s.mailSend(c, c.args[1:])
	}
	n, err := strconv.Atoi(c.args[0])
	if err != nil || len(c.args) != 1 {
		return c.failf("usage: %s", commands["mail"].usage)
	}
	return s.mailRead(c, n)
}

func (s *Shell) inbox(c *call) (store.Mailbox, []store.Message, error) {
	mb, err := s.env.Deps.Store.Mailbox(c.ctx, s.env.User, "INBOX")
	if err != nil {
		return mb, nil, err
	}
	msgs, err := s.env.Deps.Store.Messages(c.ctx, mb.ID)
	return mb, msgs, err
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

func (s *Shell) mailList(c *call) int {
	mb, msgs, err := s.inbox(c)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintln(c.out, s.t("No mail."))
			return 0
		}
		return c.failf("cannot read your INBOX: %v", err)
	}
	if len(msgs) == 0 {
		fmt.Fprintln(c.out, s.tf("No mail for %s.", s.env.User))
		return 0
	}
	fmt.Fprintln(c.out, s.tf("INBOX of %s: %d message(s), %d unread. Read one with: mail N", s.env.User, len(msgs), mb.Unseen))
	for i, m := range msgs {
		from, subj := "?", ""
		if raw, err := s.env.Deps.Store.Body(c.ctx, mb.ID, m.UID); err == nil {
			if e, err := message.Read(bytes.NewReader(raw)); e != nil {
				_ = err // an unknown charset still gives the header
				from = mail.HeaderText(e.Header, "From")
				if a, err := netmail.ParseAddress(from); err == nil {
					from = a.Address
				}
				subj = mail.HeaderText(e.Header, "Subject")
			}
		}
		mark := "N"
		if hasFlag(m.Flags, `\Seen`) {
			mark = " "
		}
		fmt.Fprintf(c.out, "%s %3d %-24.24s %s %6d  %s\n", mark, i+1, from, m.InternalDate.Format("Jan _2 15:04"), m.Size, subj)
	}
	return 0
}

func (s *Shell) mailRead(c *call, n int) int {
	mb, msgs, err := s.inbox(c)
	if err != nil {
		return c.failf("cannot read your INBOX: %v", err)
	}
	if n < 1 || n > len(msgs) {
		return c.failf("no message %d (your INBOX has %d)", n, len(msgs))
	}
	m := msgs[n-1]
	raw, err := s.env.Deps.Store.Body(c.ctx, mb.ID, m.UID)
	if err != nil {
		return c.failf("cannot read message %d: %v", n, err)
	}
	h, parts, err := mail.MIMETree(raw)
	if len(parts) == 0 {
		// Not parseable: show it as it is.
		c.out.Write(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
		if err != nil {
			fmt.Fprintf(c.out, "[%v]\n", err)
		}
		return 0
	}
	fmt.Fprintln(c.out, s.tf("Message %d:", n))
	for _, k := range []string{"From", "To", "Cc", "Date", "Subject"} {
		if v := mail.HeaderText(h, k); v != "" {
			fmt.Fprintf(c.out, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(c.out)
	// The first text/plain leaf (else the first text leaf) is the body;
	// the other leaves are listed.
	body := -1
	for i, p := range parts {
		if !p.Multipart && p.ContentType == "text/plain" && p.Disposition != "attachment" {
			body = i
			break
		}
	}
	for i, p := range parts {
		if body < 0 && !p.Multipart && strings.HasPrefix(p.ContentType, "text/") {
			body = i
		}
	}
	var others []string
	for i, p := range parts {
		if p.Multipart || i == body {
			continue
		}
		desc := p.ContentType
		if p.Filename != "" {
			desc += " " + p.Filename
		}
		others = append(others, s.tf("%s (%d bytes)", desc, p.Size))
	}
	if body >= 0 {
		text := strings.ReplaceAll(parts[body].Text, "\r\n", "\n")
		io.WriteString(c.out, text)
		if text != "" && !strings.HasSuffix(text, "\n") {
			fmt.Fprintln(c.out)
		}
	}
	if len(others) > 0 {
		fmt.Fprintln(c.out, s.tf("[also in this message: %s]", strings.Join(others, ", ")))
	}
	if !hasFlag(m.Flags, `\Seen`) {
		_, _ = s.env.Deps.Store.StoreFlags(c.ctx, mb.ID, []uint32{m.UID}, store.FlagsAdd, []string{`\Seen`})
	}
	return 0
}

// deliverer delivers like SMTP does, through internal/mail.
func (s *Shell) deliverer() *mail.Deliverer {
	cfg := s.env.Deps.Config
	d := &mail.Deliverer{Store: s.env.Deps.Store, Hostname: "labd"}
	if cfg != nil {
		d.Domains = append([]string{cfg.Server.Domain}, cfg.SMTP.LocalDomains...)
		d.Hostname = cfg.FQDN()
	}
	return d
}

func (s *Shell) mailSend(c *call, args []string) int {
	if len(args) < 2 {
		return c.failf(`usage: mail send USER SUBJECT [BODY]  (interactive: type the body, end with a line holding only ".")`)
	}
	d := s.deliverer()
	to, subject := args[0], args[1]
	rcpt, err := d.Resolve(c.ctx, to)
	if err != nil {
		switch {
		case errors.Is(err, mail.ErrNoUser):
			return c.failf("%s: no such user here", to)
		case errors.Is(err, mail.ErrNotLocal):
			return c.failf("%s: the lab shell only sends to local users", to)
		}
		return c.failf("%s: %v", to, err)
	}
	var body string
	switch {
	case len(args) > 2:
		body = strings.Join(args[2:], " ") + "\n"
	default:
		if s.tty != nil {
			fmt.Fprintln(c.out, s.t(`Type the message; end it with a line holding only "." or Ctrl-D (Ctrl-C cancels).`))
			if f, ok := c.out.(interface{ Flush() error }); ok {
				f.Flush()
			}
		}
		var b strings.Builder
		sc := bufio.NewScanner(readerCtx(c.ctx, c.in))
		sc.Buffer(make([]byte, 4096), 64<<10)
		for sc.Scan() && b.Len() < 1<<20 {
			line := strings.TrimRight(sc.Text(), "\r")
			if line == "." {
				break
			}
			b.WriteString(line + "\n")
		}
		if c.ctx.Err() != nil {
			fmt.Fprintln(c.out, s.t("(message cancelled)"))
			return 130
		}
		body = b.String()
	}
	domain := "lab.test"
	if len(d.Domains) > 0 && d.Domains[0] != "" {
		domain = d.Domains[0]
	}
	from := s.env.User + "@" + domain
	now := time.Now()
	var msg strings.Builder
	fmt.Fprintf(&msg, "From: %s\r\n", from)
	fmt.Fprintf(&msg, "To: %s@%s\r\n", rcpt, domain)
	fmt.Fprintf(&msg, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&msg, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&msg, "Message-ID: <%s.%d@%s>\r\n", mail.NewID(), now.UnixNano(), d.Hostname)
	msg.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	msg.WriteString("User-Agent: labd lab shell\r\n\r\n")
	msg.WriteString(body)
	client := s.env.Remote
	if h, _, err := net.SplitHostPort(client); err == nil {
		client = h
	}
	tr := mail.Trace{With: "LOCAL", AuthUser: s.env.User, ClientAddr: client, Helo: s.env.Proto + "-shell"}
	if err := d.Deliver(c.ctx, from, []string{rcpt}, []byte(msg.String()), tr); err != nil {
		return c.failf("delivery failed: %v", err)
	}
	fmt.Fprintln(c.out, s.tf("Mail delivered to %s@%s.", rcpt, domain))
	return 0
}

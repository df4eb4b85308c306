package shell

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"time"

	"labd/internal/mail"
	"labd/internal/store"
)

var wordDecoder = &mime.WordDecoder{}

func decodeHeader(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

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
			fmt.Fprintln(c.out, "No mail.")
			return 0
		}
		return c.failf("cannot read your INBOX: %v", err)
	}
	if len(msgs) == 0 {
		fmt.Fprintf(c.out, "No mail for %s.\n", s.env.User)
		return 0
	}
	fmt.Fprintf(c.out, "INBOX of %s: %d message(s), %d unread. Read one with: mail N\n", s.env.User, len(msgs), mb.Unseen)
	for i, m := range msgs {
		from, subj := "?", ""
		if raw, err := s.env.Deps.Store.Body(c.ctx, mb.ID, m.UID); err == nil {
			if msg, err := netmail.ReadMessage(bytes.NewReader(raw)); err == nil {
				from = decodeHeader(msg.Header.Get("From"))
				if a, err := netmail.ParseAddress(msg.Header.Get("From")); err == nil {
					from = a.Address
				}
				subj = decodeHeader(msg.Header.Get("Subject"))
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
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		// Not parseable: show it as it is.
		c.out.Write(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
		return 0
	}
	fmt.Fprintf(c.out, "Message %d:\n", n)
	for _, h := range []string{"From", "To", "Cc", "Date", "Subject"} {
		if v := msg.Header.Get(h); v != "" {
			fmt.Fprintf(c.out, "%s: %s\n", h, decodeHeader(v))
		}
	}
	fmt.Fprintln(c.out)
	body, note := textBody(textproto(msg.Header), msg.Body, 0)
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	c.out.Write(body)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		fmt.Fprintln(c.out)
	}
	if note != "" {
		fmt.Fprintf(c.out, "[%s]\n", note)
	}
	if !hasFlag(m.Flags, `\Seen`) {
		_, _ = s.env.Deps.Store.StoreFlags(c.ctx, mb.ID, []uint32{m.UID}, store.FlagsAdd, []string{`\Seen`})
	}
	return 0
}

type header interface{ Get(string) string }

func textproto(h netmail.Header) header { return h }

// textBody decodes the first text/plain part of a body; note says what
// else the message carries (attachments).
func textBody(h header, body io.Reader, depth int) ([]byte, string) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < 5 {
		mr := multipart.NewReader(body, params["boundary"])
		var text []byte
		var others []string
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if text == nil && (pt == "" || pt == "text/plain" || strings.HasPrefix(pt, "multipart/")) {
				t, note := textBody(p.Header, p, depth+1)
				text = t
				if note != "" {
					others = append(others, note)
				}
				continue
			}
			desc := pt
			if fn := p.FileName(); fn != "" {
				desc += " " + fn
			}
			others = append(others, desc)
		}
		note := ""
		if len(others) > 0 {
			note = "also in this message: " + strings.Join(others, ", ")
		}
		return text, note
	}
	var r io.Reader = io.LimitReader(body, 1<<20)
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &skipSpace{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	b, _ := io.ReadAll(r)
	if !strings.HasPrefix(mt, "text/") {
		return nil, fmt.Sprintf("a %s part of %d bytes", mt, len(b))
	}
	return b, ""
}

// skipSpace drops line breaks from base64 text.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			p[j] = b
			j++
		}
	}
	if j == 0 && n > 0 && err == nil {
		return s.Read(p)
	}
	return j, err
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
			fmt.Fprintln(c.out, `Type the message; end it with a line holding only "." or Ctrl-D (Ctrl-C cancels).`)
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
			fmt.Fprintln(c.out, "(message cancelled)")
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
	fmt.Fprintf(c.out, "Mail delivered to %s@%s.\n", rcpt, domain)
	return 0
}

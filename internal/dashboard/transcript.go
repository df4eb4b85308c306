package dashboard

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"labd/internal/sessions"
)

// Line is one line of a transcript as the dashboard shows it: a client or
// server line, a note by labd, or a run of encrypted bytes. A secret found
// in it is split out (Pre, Secret, Post) so that the view can mask it or
// show it highlighted.
type Line struct {
	Time      time.Time `json:"time"`
	Dir       string    `json:"dir"` // "C", "S" or "*"
	Pre       string    `json:"pre"`
	Secret    string    `json:"secret,omitempty"`
	Post      string    `json:"post,omitempty"`
	Masked    bool      `json:"masked,omitempty"`  // Secret replaced by a mask
	Decoded   string    `json:"decoded,omitempty"` // base64 secret decoded (unmasked view)
	TLS       bool      `json:"tls,omitempty"`     // plaintext recorded inside TLS
	Encrypted int       `json:"encrypted,omitempty"`
	Code      string    `json:"code,omitempty"`  // reply code or status ("250", "+OK", "NO")
	Class     string    `json:"class,omitempty"` // css class of the code: ok, info, more, temp, perm
	Label     string    `json:"label,omitempty"` // "2xx success"...
}

// Text is the line as shown (secret masked or not).
func (l Line) Text() string {
	if l.Encrypted > 0 {
		return fmt.Sprintf("[%d bytes encrypted]", l.Encrypted)
	}
	return l.Pre + l.shownSecret() + l.Post
}

func (l Line) shownSecret() string {
	if l.Secret != "" && l.Masked {
		return mask
	}
	return l.Secret
}

const mask = "********"

// splitLines turns transcript chunks into lines. Consecutive chunks of one
// direction are joined first (a Telnet client in character mode sends one
// byte per packet), then split at LF; each line carries the time of its
// first byte.
func splitLines(entries []sessions.Entry) []Line {
	var out []Line
	var buf []byte
	var start time.Time
	var dir sessions.Direction
	var tls, have bool
	flush := func(final bool) {
		for len(buf) > 0 {
			i := strings.IndexByte(string(buf), '\n')
			if i < 0 && !final {
				return
			}
			var ln []byte
			if i < 0 {
				ln, buf = buf, nil
			} else {
				ln, buf = buf[:i], buf[i+1:]
			}
			out = append(out, Line{Time: start, Dir: dir.String(), Pre: printable(strings.TrimSuffix(string(ln), "\r")), TLS: tls})
		}
	}
	for _, e := range entries {
		if have && (e.Dir != dir || e.Data == nil || e.Dir == sessions.Note) {
			flush(true)
			have = false
		}
		switch {
		case e.Data == nil && e.Dir != sessions.Note:
			out = append(out, Line{Time: e.Time, Dir: e.Dir.String(), Encrypted: e.Len, TLS: true})
		case e.Dir == sessions.Note:
			out = append(out, Line{Time: e.Time, Dir: "*", Pre: printable(string(e.Data))})
		default:
			if !have || len(buf) == 0 {
				start = e.Time
			}
			dir, tls, have = e.Dir, e.TLS, true
			buf = append(buf, e.Data...)
			// Complete lines keep their own time; the rest starts now.
			before := len(out)
			flush(false)
			if len(out) > before && len(buf) > 0 {
				start = e.Time
			}
		}
	}
	if have {
		flush(true)
	}
	return out
}

// printable shows control bytes and invalid UTF-8 as \xNN, so that Telnet
// negotiation and binary junk are visible but harmless.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

var (
	reCode3     = regexp.MustCompile(`^([1-5])\d\d(?:[ -]|$)`)
	reHTTPReply = regexp.MustCompile(`^HTTP/\d(?:\.\d)? ([1-5])\d\d\b`)
	reIMAPReply = regexp.MustCompile(`^(\S+) (OK|NO|BAD|BYE|PREAUTH)\b`)
)

var classOf = map[byte][2]string{
	'1': {"info", "1xx preliminary"},
	'2': {"ok", "2xx success"},
	'3': {"more", "3xx intermediate: send more"},
	'4': {"temp", "4xx transient failure"},
	'5': {"perm", "5xx permanent failure"},
}

var httpClassOf = map[byte][2]string{
	'1': {"info", "1xx informational"},
	'2': {"ok", "2xx success"},
	'3': {"more", "3xx redirection"},
	'4': {"perm", "4xx client error"},
	'5': {"perm", "5xx server error"},
}

// annotate marks server replies with their class.
func annotate(proto string, l *Line) {
	if l.Dir != "S" || l.Encrypted > 0 {
		return
	}
	t := l.Pre
	switch {
	case strings.HasPrefix(proto, "pop"):
		switch {
		case strings.HasPrefix(t, "+OK"):
			l.Code, l.Class, l.Label = "+OK", "ok", "+OK success"
		case strings.HasPrefix(t, "-ERR"):
			l.Code, l.Class, l.Label = "-ERR", "perm", "-ERR failure"
		case t == "+" || strings.HasPrefix(t, "+ "):
			l.Code, l.Class, l.Label = "+", "more", "continuation: send more"
		}
	case strings.HasPrefix(proto, "imap"):
		if m := reIMAPReply.FindStringSubmatch(t); m != nil {
			l.Code = m[2]
			tagged := m[1] != "*"
			switch m[2] {
			case "OK", "PREAUTH":
				l.Class = "ok"
			case "NO", "BYE":
				l.Class = "temp"
			case "BAD":
				l.Class = "perm"
			}
			if tagged {
				l.Label = "tagged " + m[2] + " (" + m[1] + ")"
			} else {
				l.Label = "untagged " + m[2]
			}
		} else if t == "+" || strings.HasPrefix(t, "+ ") {
			l.Code, l.Class, l.Label = "+", "more", "continuation: send more"
		}
	case strings.HasPrefix(proto, "http"):
		if m := reHTTPReply.FindStringSubmatch(t); m != nil {
			c := httpClassOf[m[1][0]]
			l.Code, l.Class, l.Label = strings.Fields(t)[1], c[0], c[1]
		}
	default: // SMTP, submission, FTP, and any other three-digit protocol
		if m := reCode3.FindStringSubmatch(t); m != nil {
			c := classOf[m[1][0]]
			l.Code, l.Class, l.Label = t[:3], c[0], c[1]
		}
	}
}

var (
	rePass        = regexp.MustCompile(`(?i)^(PASS )(.+)$`)
	reAuthCmd     = regexp.MustCompile(`(?i)^((?:\S+ )?(?:AUTH|AUTHENTICATE) +(\S+))( +(\S+))?\s*$`)
	reIMAPLogin   = regexp.MustCompile(`(?i)^(\S+ LOGIN +(?:"(?:[^"\\]|\\.)*"|\S+) +)("(?:[^"\\]|\\.)*"|\{\d+\+?\}|\S+)(.*)$`)
	reAuthHeader  = regexp.MustCompile(`(?i)^((?:Proxy-)?Authorization: *\S+ +)(.+)$`)
	reCookie      = regexp.MustCompile(`(?i)^(Cookie: .*?\b` + cookieName + `=)([^;\s]+)(.*)$`)
	reSetCookie   = regexp.MustCompile(`(?i)^(Set-Cookie: *` + cookieName + `=)([^;\s]+)(.*)$`)
	reFormSecret  = regexp.MustCompile(`(?i)(?:^|&)(?:password|roster|csrf)=([^&]*)`)
	reTrailingEsc = regexp.MustCompile(`(?:\\x[0-9a-f]{2}|\s)+$`)
	reLiteral     = regexp.MustCompile(`\{(\d+)\+?\}$`)
)

// Mask finds the secrets in a transcript's lines and marks them: FTP and
// POP3 PASS, the payloads of AUTH PLAIN/LOGIN (SMTP, POP3) and IMAP
// AUTHENTICATE with their base64 continuation lines, IMAP LOGIN's password,
// HTTP Authorization headers, this dashboard's own cookie and form
// passwords, and the line a Telnet client sends after a Password: prompt.
// With unmask, the secrets stay visible (and base64 ones are decoded) but
// are still marked so that the view can highlight them.
func Mask(proto string, lines []Line, unmask bool) []Line {
	out := make([]Line, len(lines))
	copy(out, lines)
	inAuth := false       // inside a SASL exchange: client lines are secrets
	passwordNext := false // Telnet: the server just asked for a password
	literalNext := false  // IMAP LOGIN password sent as a literal
	for i := range out {
		l := &out[i]
		if l.Encrypted > 0 || l.Dir == "*" {
			continue
		}
		if l.Dir == "S" {
			t := strings.TrimSpace(l.Pre)
			if inAuth && !(strings.HasPrefix(t, "334") || t == "+" || strings.HasPrefix(t, "+ ")) {
				inAuth = false
			}
			if strings.HasPrefix(proto, "telnet") && t != "" {
				// Telnet negotiation (IAC WILL ECHO...) may follow the prompt.
				p := strings.TrimSpace(reTrailingEsc.ReplaceAllString(t, ""))
				passwordNext = strings.HasSuffix(strings.ToLower(p), "password:")
			}
			annotate(proto, l)
			if m := reSetCookie.FindStringSubmatch(l.Pre); m != nil {
				l.setSecret(m[1], m[2], m[3])
			}
			if l.Secret != "" && !unmask {
				l.Masked = true
			}
			continue
		}
		text := l.Pre
		switch {
		case literalNext:
			literalNext = false
			l.setSecret("", text, "")
		case inAuth:
			if strings.TrimSpace(text) == "*" {
				inAuth = false
				break
			}
			l.setSecret("", text, "")
			l.decode()
		case passwordNext:
			passwordNext = false
			l.setSecret("", text, "")
		default:
			if m := rePass.FindStringSubmatch(text); m != nil {
				l.setSecret(m[1], m[2], "")
			} else if m := reAuthCmd.FindStringSubmatch(text); m != nil && !strings.EqualFold(m[2], "TLS") && !strings.EqualFold(m[2], "SSL") {
				if m[4] != "" {
					l.setSecret(m[1]+" ", m[4], "")
					l.decode()
				}
				inAuth = true
			} else if m := reIMAPLogin.FindStringSubmatch(text); m != nil && strings.HasPrefix(proto, "imap") {
				l.setSecret(m[1], m[2], m[3])
				if reLiteral.MatchString(m[2]) {
					// The password follows on the next line.
					l.Pre, l.Secret, l.Post = text, "", ""
					literalNext = true
				}
			} else if m := reAuthHeader.FindStringSubmatch(text); m != nil {
				l.setSecret(m[1], m[2], "")
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(strings.SplitN(m[1], ":", 2)[1])), "basic") {
					l.decode()
				}
			} else if m := reCookie.FindStringSubmatch(text); m != nil {
				l.setSecret(m[1], m[2], m[3])
			} else if strings.HasPrefix(proto, "http") {
				if loc := reFormSecret.FindAllStringSubmatchIndex(text, -1); loc != nil {
					// Only the first secret field is split out; the
					// others are masked in place whatever the view.
					a, b := loc[0][2], loc[0][3]
					pre, sec, post := text[:a], text[a:b], text[b:]
					post = reFormSecret.ReplaceAllStringFunc(post, func(s string) string {
						k, _, _ := strings.Cut(s, "=")
						return k + "=" + mask
					})
					l.setSecret(pre, sec, post)
				}
			}
		}
		if l.Secret != "" && !unmask {
			l.Masked = true
			l.Decoded = ""
		}
	}
	// In HTTP, a secret found once is a secret wherever it shows again:
	// the /auth and /echo pages repeat the Authorization header. (Not in
	// other protocols: the demo password alice would hide every "alice".)
	var found []string
	for _, l := range out {
		if strings.HasPrefix(proto, "http") && len(l.Secret) >= 8 && !slices.Contains(found, l.Secret) {
			found = append(found, l.Secret)
		}
	}
	for i := range out {
		l := &out[i]
		if l.Encrypted > 0 || l.Secret != "" {
			continue
		}
		for _, sec := range found {
			if j := strings.Index(l.Pre, sec); j >= 0 {
				pre, post := l.Pre[:j], l.Pre[j+len(sec):]
				l.setSecret(pre, sec, strings.ReplaceAll(post, sec, mask))
				l.Masked = !unmask
				break
			}
		}
	}
	return out
}

func (l *Line) setSecret(pre, secret, post string) {
	l.Pre, l.Secret, l.Post = pre, secret, post
}

// decode adds the decoded form of a base64 secret when it is text.
func (l *Line) decode() {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(l.Secret))
	if err != nil || !utf8.Valid(b) {
		return
	}
	l.Decoded = printable(strings.ReplaceAll(string(b), "\x00", "␀"))
}

// Transcript returns the lines of a session, annotated and masked.
func Transcript(info sessions.Info, entries []sessions.Entry, unmask bool) []Line {
	return Mask(info.Proto, splitLines(entries), unmask)
}

// PlainText renders lines for download.
func PlainText(info sessions.Info, lines []Line) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# labd session %d: %s %s client %s server %s user %q start %s\n",
		info.ID, info.Proto, info.Transport, info.Remote, info.Local, info.User, info.Start.Format(time.RFC3339))
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s %s", l.Time.Format("15:04:05.000"), l.Dir, l.Text())
		if l.Decoded != "" {
			fmt.Fprintf(&b, "    [decoded: %s]", l.Decoded)
		}
		if l.Label != "" {
			fmt.Fprintf(&b, "    [%s]", l.Label)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

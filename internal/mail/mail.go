// Package mail is local delivery, shared by SMTP and the lab shell's mail
// command: it decides whether an address is a local user, and stores a
// message in each recipient's INBOX with the trace headers (Return-Path,
// Received) a real MTA adds, in one transaction.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"labd/internal/store"
)

// Errors from Resolve.
var (
	// ErrNotLocal means the domain is not one of ours (relaying).
	ErrNotLocal = errors.New("not a local domain")
	// ErrNoUser means the domain is ours but no such user exists.
	ErrNoUser = errors.New("no such user here")
	// ErrBadAddress means the address cannot be parsed.
	ErrBadAddress = errors.New("malformed address")
)

// Store is what delivery needs from the store.
type Store interface {
	User(ctx context.Context, name string) (store.User, error)
	Deliver(ctx context.Context, users []string, raw []byte, date time.Time) error
}

// Deliverer delivers to local users.
type Deliverer struct {
	Store Store
	// Domains are the local mail domains (the lab domain first).
	Domains []string
	// Hostname is this host's name in Received headers.
	Hostname string
}

// IsLocalDomain says whether mail for domain is delivered here. The host's
// own name and domain literals of it are local too.
func (d *Deliverer) IsLocalDomain(domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if domain == strings.ToLower(d.Hostname) {
		return true
	}
	for _, l := range d.Domains {
		if domain == strings.ToLower(l) {
			return true
		}
	}
	return false
}

// Split returns the local part and domain of an address, without angle
// brackets. A bare local part ("postmaster") has an empty domain.
func Split(addr string) (local, domain string, err error) {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if addr == "" || strings.ContainsAny(addr, " \t\r\n<>") {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, "", nil
	}
	local, domain = addr[:i], addr[i+1:]
	if local == "" || domain == "" {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	return local, domain, nil
}

// Resolve maps a recipient address to a local user: case does not matter,
// and "+tag" is dropped (Alice+lab@LAB.test is alice).
func (d *Deliverer) Resolve(ctx context.Context, addr string) (string, error) {
	local, domain, err := Split(addr)
	if err != nil {
		return "", err
	}
	if domain != "" && !d.IsLocalDomain(domain) {
		return "", fmt.Errorf("%s: %w", domain, ErrNotLocal)
	}
	user := strings.ToLower(local)
	if i := strings.IndexByte(user, '+'); i > 0 {
		user = user[:i]
	}
	if _, err := d.Store.User(ctx, user); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("%s: %w", user, ErrNoUser)
		}
		return "", err
	}
	return user, nil
}

// Trace describes how a message arrived, for its Received header.
type Trace struct {
	// Helo is the name the client gave in HELO/EHLO.
	Helo string
	// ClientAddr is the client's IP address (no port).
	ClientAddr string
	// AuthUser is the authenticated sender, if any.
	AuthUser string
	// With is the RFC 3848 protocol: SMTP, ESMTP, ESMTPA, ESMTPS, ESMTPSA,
	// or LOCAL for the lab shell.
	With string
	// ID is the transaction ID (generated when empty).
	ID string
}

// NewID returns a queue-ID-like token for Received headers and logs.
func NewID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// Deliver stores body once in the INBOX of every user, with Return-Path
// and Received prepended and line endings made CRLF. It returns only after
// the store committed every copy, so the caller may acknowledge.
func (d *Deliverer) Deliver(ctx context.Context, from string, users []string, body []byte, t Trace) error {
	if len(users) == 0 {
		return errors.New("no recipients")
	}
	now := time.Now()
	raw := append(d.TraceHeaders(from, users, t, now), NormalizeCRLF(body)...)
	return d.Store.Deliver(ctx, users, raw, now)
}

// TraceHeaders returns the Return-Path and Received lines (CRLF-ended).
func (d *Deliverer) TraceHeaders(from string, users []string, t Trace, now time.Time) []byte {
	if t.ID == "" {
		t.ID = NewID()
	}
	// What the client typed goes into a header line: no control
	// characters (a bare CR in EHLO would split labd's own Received line).
	t.Helo, t.AuthUser, from = printable(t.Helo), printable(t.AuthUser), printable(from)
	if t.With == "" {
		t.With = "SMTP"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", strings.Trim(from, "<>"))
	fmt.Fprintf(&b, "Received: from %s", orUnknown(t.Helo))
	if t.ClientAddr != "" {
		fmt.Fprintf(&b, " ([%s])", t.ClientAddr)
	}
	fmt.Fprintf(&b, "\r\n\tby %s (labd) with %s id %s", d.Hostname, t.With, t.ID)
	if t.AuthUser != "" {
		fmt.Fprintf(&b, "\r\n\t(authenticated as %s)", t.AuthUser)
	} else if t.With != "LOCAL" {
		b.WriteString("\r\n\t(not authenticated: the From: header is whatever the client wrote)")
	}
	if len(users) == 1 && len(d.Domains) > 0 {
		fmt.Fprintf(&b, "\r\n\tfor <%s@%s>", users[0], d.Domains[0])
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
	return b.Bytes()
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// NormalizeCRLF turns bare LF (and bare CR) line endings into CRLF, so
// that stored messages are canonical whatever the client typed: IMAP sizes
// and POP3 byte counts are then right.
func NormalizeCRLF(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/40)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

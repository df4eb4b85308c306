// Package journal is a log/slog handler that writes to systemd's journal
// through its native protocol, so that every slog attribute becomes a
// journal field: `journalctl -u labd SERVICE=smtp` or `USER=alice` then
// select a service's or a student's lines. labd uses it when systemd
// started it with stderr connected to the journal (JOURNAL_STREAM), and
// plain text lines everywhere else.
package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// SocketPath is where journald listens for native datagrams.
const SocketPath = "/run/systemd/journal/socket"

// StderrIsJournal reports whether stderr is the journal stream systemd
// set up for this process, as sd_journal_stream_fd's callers check: the
// device and inode in $JOURNAL_STREAM are those of fd 2.
func StderrIsJournal() bool {
	v := os.Getenv("JOURNAL_STREAM")
	if v == "" {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(v, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// Handler sends each record as one datagram. It is safe for concurrent use.
type Handler struct {
	conn  *net.UnixConn
	addr  *net.UnixAddr
	ident string
	level slog.Leveler
	// attrs are the pre-formatted fields of With; groups the open groups.
	attrs  []byte
	groups []string
	mu     *sync.Mutex
}

// New returns a handler writing to the journal socket at path (SocketPath
// in production), tagging records with SYSLOG_IDENTIFIER=ident.
func New(path, ident string, level slog.Leveler) (*Handler, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("journal: open a datagram socket: %w", err)
	}
	return &Handler{conn: conn, addr: &net.UnixAddr{Name: path, Net: "unixgram"}, ident: ident, level: level, mu: &sync.Mutex{}}, nil
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		h2.attrs = appendAttr(h2.attrs, h.groups, a)
	}
	return &h2
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clone(h.groups), name)
	return &h2
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b []byte
	b = appendField(b, "MESSAGE", r.Message)
	b = appendField(b, "PRIORITY", priority(r.Level))
	b = appendField(b, "SYSLOG_IDENTIFIER", h.ident)
	b = append(b, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, h.groups, a)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.conn.WriteToUnix(b, h.addr)
	if errors.Is(err, syscall.EMSGSIZE) {
		// A record beyond the datagram limit: keep the message and say so
		// rather than lose the line.
		b = appendField(nil, "MESSAGE", r.Message+" (fields dropped: record too large for the journal)")
		b = appendField(b, "PRIORITY", priority(r.Level))
		b = appendField(b, "SYSLOG_IDENTIFIER", h.ident)
		_, err = h.conn.WriteToUnix(b, h.addr)
	}
	return err
}

// Close releases the socket.
func (h *Handler) Close() error { return h.conn.Close() }

func priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "3"
	case l >= slog.LevelWarn:
		return "4"
	case l >= slog.LevelInfo:
		return "6"
	}
	return "7"
}

func appendAttr(b []byte, groups []string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		g := groups
		if a.Key != "" {
			g = append(slices.Clone(groups), a.Key)
		}
		for _, sub := range a.Value.Group() {
			b = appendAttr(b, g, sub)
		}
		return b
	}
	key := fieldName(append(slices.Clone(groups), a.Key))
	if key == "" {
		return b
	}
	return appendField(b, key, a.Value.String())
}

// fieldName turns slog keys into journal field names: upper case, A-Z,
// 0-9 and _ only, not starting with _ or a digit (those are trusted or
// invalid), at most 64 characters. "remote" becomes REMOTE; a group
// "tls" with key "version" becomes TLS_VERSION.
func fieldName(parts []string) string {
	var sb strings.Builder
	for i, p := range parts {
		if i > 0 {
			sb.WriteByte('_')
		}
		for _, r := range p {
			switch {
			case r >= 'a' && r <= 'z':
				sb.WriteRune(r - 'a' + 'A')
			case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
				sb.WriteRune(r)
			default:
				sb.WriteByte('_')
			}
		}
	}
	name := strings.TrimLeft(sb.String(), "_0123456789")
	if len(name) > 64 {
		name = name[:64]
	}
	switch name {
	case "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER":
		// A record's own attribute never overrides the journal's fields.
		name = "LABD_" + name
	}
	return name
}

// appendField writes KEY=value, or the length-prefixed binary form when
// the value holds a newline (journald's native protocol).
func appendField(b []byte, key, value string) []byte {
	if !strings.Contains(value, "\n") {
		b = append(b, key...)
		b = append(b, '=')
		b = append(b, value...)
		return append(b, '\n')
	}
	b = append(b, key...)
	b = append(b, '\n')
	b = binary.LittleEndian.AppendUint64(b, uint64(len(value)))
	b = append(b, value...)
	return append(b, '\n')
}

// Parse decodes one native-protocol datagram into its fields (repeated
// fields keep the last value); tests and the fuzz target use it.
func Parse(p []byte) (map[string]string, error) {
	out := map[string]string{}
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		if nl < 0 {
			return out, errors.New("journal: field without a final newline")
		}
		line := p[:nl]
		if eq := bytes.IndexByte(line, '='); eq >= 0 {
			out[string(line[:eq])] = string(line[eq+1:])
			p = p[nl+1:]
			continue
		}
		key := string(line)
		p = p[nl+1:]
		if len(p) < 8 {
			return out, fmt.Errorf("journal: field %s: short length", key)
		}
		n := binary.LittleEndian.Uint64(p)
		p = p[8:]
		if n > uint64(len(p)) || uint64(len(p))-n < 1 || p[n] != '\n' {
			return out, fmt.Errorf("journal: field %s: bad binary value", key)
		}
		out[key] = string(p[:n])
		p = p[n+1:]
	}
	return out, nil
}

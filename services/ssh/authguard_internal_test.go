package ssh

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	glssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// fakeCtx is the part of gliderlabs' Context that authLog uses.
type fakeCtx struct {
	context.Context
	sync.Mutex
	user   string
	values map[any]any
}

func (c *fakeCtx) User() string          { return c.user }
func (c *fakeCtx) SessionID() string     { return "" }
func (c *fakeCtx) ClientVersion() string { return "" }
func (c *fakeCtx) ServerVersion() string { return "" }
func (c *fakeCtx) RemoteAddr() net.Addr  { return &net.TCPAddr{} }
func (c *fakeCtx) LocalAddr() net.Addr   { return &net.TCPAddr{} }
func (c *fakeCtx) Permissions() *glssh.Permissions {
	return &glssh.Permissions{Permissions: &gossh.Permissions{}}
}
func (c *fakeCtx) SetValue(k, v any) { c.values[k] = v }
func (c *fakeCtx) Value(k any) any {
	if v, ok := c.values[k]; ok {
		return v
	}
	return c.Context.Value(k)
}

// fakeMeta is the connection as x/crypto sees it during authentication:
// User is the name of the current request.
type fakeMeta struct {
	gossh.ConnMetadata
	user string
}

func (m fakeMeta) User() string         { return m.user }
func (m fakeMeta) RemoteAddr() net.Addr { return &net.TCPAddr{} }

// gliderlabs checks credentials against the first user name of the
// connection; a success reported for another name (the client changed it
// after a first attempt) must not log anyone in.
func TestAuthLogRefusesChangedUser(t *testing.T) {
	s := &Service{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		checked, current string
		ok               bool
	}{
		{"alice", "alice", true},
		{"Alice", "alice", true},
		{"bob", "alice", false},
	} {
		server, client := net.Pipe()
		ctx := &fakeCtx{Context: context.Background(), user: tc.checked, values: map[any]any{keyConn: server}}
		s.authLog(ctx, fakeMeta{user: tc.current}, "password", nil)
		got := userOf(ctx)
		if tc.ok && got != "alice" {
			t.Errorf("%s/%s: user %q, want alice", tc.checked, tc.current, got)
		}
		if !tc.ok {
			if got != "" {
				t.Errorf("%s/%s: logged in as %q", tc.checked, tc.current, got)
			}
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := client.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("%s/%s: connection not closed (%v)", tc.checked, tc.current, err)
			}
		}
		server.Close()
		client.Close()
	}
}

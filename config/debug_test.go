package config

import (
	"strings"
	"testing"
)

func TestDebugListenLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"127.0.0.1:6060", true},
		{"[::1]:6060", true},
		{"0.0.0.0:6060", false},
		{"192.0.2.1:6060", false},
		{"localhost:6060", false},
		{"127.0.0.1", false},
	} {
		_, err := Parse("d.yaml", []byte("server:\n  debug_listen: \""+tc.addr+"\"\n"))
		if (err == nil) != tc.ok {
			t.Errorf("debug_listen %q: err %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "server.debug_listen") {
			t.Errorf("debug_listen %q: error does not name the key: %v", tc.addr, err)
		}
	}
}

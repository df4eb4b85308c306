package netconn_test

import (
	"crypto/tls"
	"net"
	"testing"

	"labd/internal/netconn"
)

type wrap struct{ net.Conn }

func (w wrap) NetConn() net.Conn { return w.Conn }

type opaque struct{ net.Conn }

// Find looks through NetConn wrappers (crypto/tls's among them) and
// stops at a wrapper that does not expose one.
func TestFind(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := wrap{tls.Server(wrap{a}, &tls.Config{})}
	if got, ok := netconn.Find[*tls.Conn](c); !ok || got == nil {
		t.Errorf("tls.Conn under a wrapper not found")
	}
	if _, ok := netconn.Find[interface{ CloseWrite() error }](c); !ok {
		t.Errorf("an interface under a wrapper not found")
	}
	if got, ok := netconn.Find[wrap](c); !ok || got != c {
		t.Errorf("the conn itself is not the first found: %v %v", got, ok)
	}
	if _, ok := netconn.Find[*tls.Conn](opaque{c}); ok {
		t.Errorf("found through a wrapper without NetConn")
	}
	if _, ok := netconn.Find[*tls.Conn](nil); ok {
		t.Errorf("found in nil")
	}
}

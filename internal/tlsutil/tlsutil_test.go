package tlsutil

import (
	"crypto/tls"
	"net"
	"testing"
)

func TestGeneratedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Names: []string{"labd.lab.test", "lab.test", "localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}
	a, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.CAPEM) != string(b.CAPEM) || !a.Leaf().Equal(b.Leaf()) {
		t.Error("a second start generated new material; students would have to trust it again")
	}
	// A new name renews the server certificate but keeps the CA.
	o.Names = append(o.Names, "extra.lab.test")
	c, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.CAPEM) != string(a.CAPEM) || c.Leaf().Equal(a.Leaf()) {
		t.Error("adding a name should renew the server cert under the same CA")
	}
	// A client trusting only the CA verifies the server by name and IP.
	for _, name := range []string{"extra.lab.test", "127.0.0.1"} {
		ln, _ := tls.Listen("tcp", "127.0.0.1:0", c.Config())
		go func() {
			conn, err := ln.Accept()
			if err == nil {
				conn.(*tls.Conn).Handshake()
				conn.Close()
			}
		}()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: c.CertPool(), ServerName: name})
		if err != nil {
			t.Errorf("verify as %s: %v", name, err)
		} else {
			conn.Close()
		}
		ln.Close()
	}
}

package tlsutil

import (
	"crypto/tls"
	"net"
	"testing"
)

// TestNoCBCSHA1: a client that offers only the CBC-SHA1 suites of TLS 1.2
// gets no handshake; a default client does.
func TestNoCBCSHA1(t *testing.T) {
	m, err := Load(Options{Dir: t.TempDir(), Names: []string{"labd.lab.test"}})
	if err != nil {
		t.Fatal(err)
	}
	handshake := func(cc *tls.Config) error {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			s := tls.Server(a, m.Config())
			s.Handshake()
			s.Close()
		}()
		cc.InsecureSkipVerify = true
		c := tls.Client(b, cc)
		defer c.Close()
		return c.Handshake()
	}
	cbc := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}}
	if err := handshake(cbc); err == nil {
		t.Error("a TLS 1.2 client offering only CBC-SHA1 suites got a handshake")
	}
	if err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12}); err != nil {
		t.Errorf("a TLS 1.2 client with default suites: %v", err)
	}
	if err := handshake(&tls.Config{}); err != nil {
		t.Errorf("a TLS 1.3 client: %v", err)
	}
}

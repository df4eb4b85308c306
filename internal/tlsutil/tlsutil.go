// Package tlsutil provides the TLS material every labd service shares: the
// configured certificate, or a lab CA and a server certificate generated at
// first start into the data directory and reused afterwards, so that
// students trust the CA once (it is downloadable over HTTP) and every
// protocol's TLS variant then verifies.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Material is the loaded TLS setup.
type Material struct {
	cert tls.Certificate
	// CAPEM is the lab CA in PEM form (empty with a configured certificate
	// that came without one).
	CAPEM []byte
	// CAFile is where CAPEM is on disk.
	CAFile string
	// Generated says the certificate is labd's own.
	Generated bool
	// KeyLog, if set, receives the secrets of every TLS handshake in NSS
	// key log format (sessions.tls_keylog: the class decrypts its own
	// traffic in Wireshark).
	KeyLog io.Writer
}

// Config returns a fresh server config; callers may set NextProtos etc.
func (m *Material) Config() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{m.cert},
		MinVersion:   tls.VersionTLS12,
		KeyLogWriter: m.KeyLog,
		// TLS 1.2 suites with forward secrecy and AEAD only: no CBC-SHA1,
		// no RSA key exchange (TLS 1.3 suites are not configurable).
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// Leaf returns the server certificate.
func (m *Material) Leaf() *x509.Certificate { return m.cert.Leaf }

// CertPool returns a pool with the CA (for clients in tests and the shell).
func (m *Material) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	if len(m.CAPEM) > 0 {
		p.AppendCertsFromPEM(m.CAPEM)
	} else if m.cert.Leaf != nil {
		p.AddCert(m.cert.Leaf)
	}
	return p
}

// Options says where the material comes from.
type Options struct {
	// CertFile and KeyFile, when set, are used as they are.
	CertFile, KeyFile string
	// Dir is where generated material lives (data_dir/tls).
	Dir string
	// Names and IPs go into the generated certificate's SANs.
	Names []string
	IPs   []net.IP
}

// Load returns the configured certificate, or the generated one (creating
// it on first use, and renewing the server certificate when it has expired
// or lacks a name or address now configured).
func Load(o Options) (*Material, error) {
	if o.CertFile != "" {
		c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load tls.cert %s and tls.key %s: %w", o.CertFile, o.KeyFile, err)
		}
		return &Material{cert: c}, nil
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.Dir, err)
	}
	caCert, caKey, err := loadOrCreateCA(o.Dir)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(o.Dir, "server.pem"), filepath.Join(o.Dir, "server.key")
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil || !covers(c.Leaf, o) || c.Leaf.CheckSignatureFrom(caCert) != nil {
		if c, err = issue(caCert, caKey, o, certFile, keyFile); err != nil {
			return nil, err
		}
	}
	caFile := filepath.Join(o.Dir, "ca.pem")
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	return &Material{cert: c, CAPEM: caPEM, CAFile: caFile, Generated: true}, nil
}

func covers(leaf *x509.Certificate, o Options) bool {
	if leaf == nil || time.Now().After(leaf.NotAfter.Add(-24*time.Hour)) {
		return false
	}
	for _, n := range o.Names {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range o.IPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		k, ok := c.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || c.Leaf == nil {
			// Never overwrite a CA the class already trusts.
			return nil, nil, fmt.Errorf("lab CA in %s: the key is not ECDSA; use tls.cert and tls.key for a certificate of your own, or move %s away to generate a new CA", dir, dir)
		}
		return c.Leaf, k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("load lab CA from %s: %w (delete %s to generate a new one)", dir, err, dir)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "labd lab CA", Organization: []string{"labd"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, o Options, certFile, keyFile string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	cn := "labd"
	if len(o.Names) > 0 {
		cn = o.Names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"labd"}},
		NotBefore:    time.Now().Add(-time.Hour),
		// 397 days: the longest validity browsers accept.
		NotAfter:    time.Now().AddDate(0, 0, 397),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    o.Names,
		IPAddresses: o.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeAtomic writes name through a synced temporary file, so that a power
// cut never leaves an empty key behind.
func writeAtomic(name string, data []byte, mode os.FileMode) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return os.Rename(tmp, name)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

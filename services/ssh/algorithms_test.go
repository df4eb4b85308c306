package ssh_test

import (
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"labd/config"
)

// TestWeakAlgorithmsRefused: a client that offers only SHA-1 key exchange,
// hmac-sha1-96, or ssh-rsa host-key signatures cannot connect; the same
// client with modern choices can, and the legacy switch brings ssh-rsa back
// for old PuTTY.
func TestWeakAlgorithmsRefused(t *testing.T) {
	e := start(t, nil)
	try := func(t *testing.T, addr string, edit func(*gossh.ClientConfig)) error {
		cc := clientConfig("alice", gossh.Password("alice"))
		edit(cc)
		c, err := gossh.Dial("tcp", addr, cc)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name string
		edit func(*gossh.ClientConfig)
		ok   bool
	}{
		{"diffie-hellman-group14-sha1", func(c *gossh.ClientConfig) {
			c.KeyExchanges = []string{gossh.InsecureKeyExchangeDH14SHA1}
		}, false},
		{"diffie-hellman-group1-sha1", func(c *gossh.ClientConfig) {
			c.KeyExchanges = []string{gossh.InsecureKeyExchangeDH1SHA1}
		}, false},
		{"hmac-sha1-96", func(c *gossh.ClientConfig) {
			c.MACs = []string{gossh.InsecureHMACSHA196}
			c.Ciphers = []string{gossh.CipherAES128CTR}
		}, false},
		{"hmac-sha1", func(c *gossh.ClientConfig) {
			c.MACs = []string{gossh.HMACSHA1}
			c.Ciphers = []string{gossh.CipherAES128CTR}
		}, false},
		{"ssh-rsa host key signature", func(c *gossh.ClientConfig) {
			c.HostKeyAlgorithms = []string{gossh.KeyAlgoRSA}
		}, false},
		{"rsa-sha2-256 host key", func(c *gossh.ClientConfig) {
			c.HostKeyAlgorithms = []string{gossh.KeyAlgoRSASHA256}
		}, true},
		{"curve25519 and hmac-sha2-256", func(c *gossh.ClientConfig) {
			c.KeyExchanges = []string{gossh.KeyExchangeCurve25519}
			c.Ciphers = []string{gossh.CipherAES128CTR}
			c.MACs = []string{gossh.HMACSHA256}
		}, true},
	} {
		err := try(t, e.addr, tc.edit)
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want a login", tc.name, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%s: the server accepted it", tc.name)
		}
	}
	legacy := start(t, func(c *config.Config) { c.SSH.LegacyRSASHA1 = true })
	if err := try(t, legacy.addr, func(c *gossh.ClientConfig) { c.HostKeyAlgorithms = []string{gossh.KeyAlgoRSA} }); err != nil {
		t.Errorf("ssh-rsa with ssh.legacy_rsa_sha1: %v", err)
	}
}

package labtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"
)

// SSHKey returns a new Ed25519 key as a signer for x/crypto clients, as
// its private key (for files written in OpenSSH format) and as an
// authorized_keys line.
func SSHKey(t testing.TB) (ssh.Signer, ed25519.PrivateKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, priv, string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
}

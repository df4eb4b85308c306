package ssh

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"

	"labd/config"
	"labd/internal/fsroot"
)

// HostKeyFile names one host key: its algorithm and its file under
// data_dir/keys (OpenSSH private key format, mode 0600, with a .pub beside
// it so that ssh-keygen -lf works on it too).
type HostKeyFile struct {
	Type string // "ed25519" or "rsa"
	File string // base name in the key directory
}

// HostKeyFiles are the host keys labd keeps: ed25519 for current clients,
// RSA 3072 for older PuTTY and other clients without ed25519.
var HostKeyFiles = []HostKeyFile{
	{Type: "ed25519", File: "ssh_host_ed25519_key"},
	{Type: "rsa", File: "ssh_host_rsa_key"},
}

// RSABits is the size of a generated RSA host key.
var RSABits = 3072

// HostKey is one loaded host key.
type HostKey struct {
	Signer gossh.Signer
	Path   string
	// Created is true when this call generated the key.
	Created bool
}

// Fingerprint is what students compare when a client asks "The
// authenticity of host ... can't be established".
type Fingerprint struct {
	Type   string // key algorithm as SSH names it: ssh-ed25519, ssh-rsa
	Bits   int
	SHA256 string // SHA256:base64, as OpenSSH and PuTTY >= 0.75 show it
	MD5    string // legacy colon-separated MD5, as older PuTTY shows it
	Path   string
	// AuthorizedKey is the public key in known_hosts/authorized_keys form
	// (without the host name).
	AuthorizedKey string
}

// LoadHostKeys loads the host keys from layout's key directory, generating
// the missing ones. The keys persist, so that the fingerprints students
// accept stay the same across restarts.
func LoadHostKeys(layout fsroot.Layout) ([]HostKey, error) {
	dir := layout.KeyDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ssh host keys: create %s: %w", dir, err)
	}
	var out []HostKey
	for _, hk := range HostKeyFiles {
		k, err := loadOrCreate(filepath.Join(dir, hk.File), hk.Type)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// HostKeyFingerprints returns the fingerprints of the host keys (generating
// them if they do not exist yet, as the daemon would at its first start).
func HostKeyFingerprints(layout fsroot.Layout) ([]Fingerprint, []HostKey, error) {
	keys, err := LoadHostKeys(layout)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Fingerprint, 0, len(keys))
	for _, k := range keys {
		out = append(out, FingerprintOf(k.Signer.PublicKey(), k.Path))
	}
	return out, keys, nil
}

// FingerprintOf describes one public key.
func FingerprintOf(pub gossh.PublicKey, path string) Fingerprint {
	f := Fingerprint{
		Type:          pub.Type(),
		SHA256:        gossh.FingerprintSHA256(pub),
		MD5:           gossh.FingerprintLegacyMD5(pub),
		Path:          path,
		AuthorizedKey: string(trimNL(gossh.MarshalAuthorizedKey(pub))),
	}
	if cp, ok := pub.(gossh.CryptoPublicKey); ok {
		switch k := cp.CryptoPublicKey().(type) {
		case *rsa.PublicKey:
			f.Bits = k.N.BitLen()
		case ed25519.PublicKey:
			f.Bits = 256
		}
	}
	return f
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func loadOrCreate(path, typ string) (HostKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		s, err := gossh.ParsePrivateKey(data)
		if err != nil {
			return HostKey{}, fmt.Errorf("ssh host key %s: %w (delete the file to have labd generate a new key; clients will then warn that the host key changed)", path, err)
		}
		return HostKey{Signer: s, Path: path}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return HostKey{}, fmt.Errorf("ssh host key: %w", err)
	}
	var priv crypto.Signer
	switch typ {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return HostKey{}, err
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return HostKey{}, err
		}
		priv = k
	default:
		return HostKey{}, fmt.Errorf("ssh host key: unknown type %q", typ)
	}
	block, err := gossh.MarshalPrivateKey(priv, "labd host key")
	if err != nil {
		return HostKey{}, err
	}
	signer, err := gossh.NewSignerFromSigner(priv)
	if err != nil {
		return HostKey{}, err
	}
	// Write a temporary file and link it into place: if another labd
	// process (labd hostkeys while the daemon starts) created the key
	// meanwhile, its key wins and is the one loaded.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return HostKey{}, fmt.Errorf("ssh host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return HostKey{}, err
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return HostKey{}, fmt.Errorf("ssh host key: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return HostKey{}, err
	}
	if err := tmp.Close(); err != nil {
		return HostKey{}, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreate(path, typ)
		}
		return HostKey{}, fmt.Errorf("ssh host key: %w", err)
	}
	pub := append(trimNL(gossh.MarshalAuthorizedKey(signer.PublicKey())), " labd host key\n"...)
	_ = os.WriteFile(path+".pub", pub, 0o644)
	return HostKey{Signer: signer, Path: path, Created: true}, nil
}

// Check is for labd check: the host keys that exist must load (missing
// ones are generated at start), and the key directory must be usable.
func Check(cfg *config.Config) error {
	layout := fsroot.Layout{DataDir: cfg.Server.DataDir}
	for _, hk := range HostKeyFiles {
		p := filepath.Join(layout.KeyDir(), hk.File)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("host key %s: %w (labd must be able to read it)", p, err)
		}
		if _, err := gossh.ParsePrivateKey(data); err != nil {
			return fmt.Errorf("host key %s: %w (delete it to have labd generate a new one; clients will warn that the host key changed)", p, err)
		}
	}
	return nil
}

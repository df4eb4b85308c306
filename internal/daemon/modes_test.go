package daemon_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"labd/internal/daemon"
	"labd/internal/labtest"
	labssh "labd/services/ssh"
)

// TestSecretsPrivateWhateverTheUmask: started with umask 000, labd still
// creates its database and private keys 0600 and its data directory 0750.
func TestSecretsPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	cfg := labtest.Config(t)
	if err := os.Chmod(cfg.Server.DataDir, 0o777); err != nil {
		t.Fatal(err)
	}
	deps, err := daemon.Prepare(cfg, labtest.Logger(t), labtest.BcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	defer deps.Store.Close()
	svc, err := labssh.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	svc.HostKeys() // generated in the background: wait for them
	check := func(path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			return
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o, want %#o", path, got, want)
		}
	}
	check(cfg.Server.DataDir, 0o750)
	check(deps.Layout.Database(), 0o600)
	keys, _ := filepath.Glob(filepath.Join(deps.Layout.TLSDir(), "*key*"))
	sshKeys, _ := filepath.Glob(filepath.Join(deps.Layout.KeyDir(), "*"))
	for _, k := range append(keys, sshKeys...) {
		if filepath.Ext(k) == ".pub" {
			continue
		}
		check(k, 0o600)
	}
	if len(keys) == 0 || len(sshKeys) == 0 {
		t.Errorf("no keys found: tls %v, ssh %v", keys, sshKeys)
	}
}

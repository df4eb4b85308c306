package ssh_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSFTPChmodMasked: a student cannot make a file in their home
// world-writable, setuid or setgid through SFTP chmod or mkdir.
func TestSFTPChmodMasked(t *testing.T) {
	e := start(t, nil)
	sc := newSFTP(t, e.login(t))
	f, err := sc.Create("x.sh")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	home := e.deps.Layout.Home("alice")
	for _, tc := range []struct {
		mode, want os.FileMode
	}{
		{0o777, 0o775},
		{0o666, 0o664},
		{os.ModeSetuid | os.ModeSetgid | 0o755, 0o755},
		{0o600, 0o600},
	} {
		if err := sc.Chmod("x.sh", tc.mode); err != nil {
			t.Fatalf("chmod %v: %v", tc.mode, err)
		}
		fi, err := os.Stat(filepath.Join(home, "x.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.want {
			t.Errorf("chmod %v gave %v, want %v", tc.mode, fi.Mode(), tc.want)
		}
	}
	if err := sc.Mkdir("open"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Chmod("open", os.ModeDir|0o777); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(home, "open")); fi.Mode().Perm() != 0o775 {
		t.Errorf("directory chmod 777 gave %v", fi.Mode())
	}
}

// Package fsroot lays out labd's data directory (homes, pub/, database, TLS
// material) and decides whether an error means that a client path tried to
// leave its root (services open client paths through os.Root, which refuses
// "..", absolute paths and symlinks that point outside).
package fsroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// ErrEscape is returned for a path that would leave its root; IsEscape
// recognises it as well as os.Root's own refusal.
var ErrEscape = errors.New("path leaves the permitted directory")

// IsEscape says whether err (or an error it wraps, such as an
// *fs.PathError or *os.LinkError from os.Root) means that a path tried to
// leave its root: with "..", an absolute path, or a symlink pointing
// outside. It is the one place that decides; callers never match texts.
func IsEscape(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrEscape) {
		return true
	}
	e := rootEscape()
	return e != nil && errors.Is(err, e)
}

// rootEscape is os.Root's error for a name that leaves the root ("path
// escapes from parent"), which the os package does not export: it is
// taken once from os.Root itself (".." at the top of a root is refused
// before any file is touched), so no caller depends on its text.
var rootEscape = sync.OnceValue(func() error {
	r, err := os.OpenRoot(string(filepath.Separator))
	if err != nil {
		return nil
	}
	defer r.Close()
	_, err = r.Stat("..")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return nil
})

// Layout names the places under the data directory.
type Layout struct{ DataDir string }

func (l Layout) Database() string      { return filepath.Join(l.DataDir, "labd.db") }
func (l Layout) HomeRoot() string      { return filepath.Join(l.DataDir, "home") }
func (l Layout) Home(u string) string  { return filepath.Join(l.DataDir, "home", u) }
func (l Layout) Pub() string           { return filepath.Join(l.DataDir, "pub") }
func (l Layout) TLSDir() string        { return filepath.Join(l.DataDir, "tls") }
func (l Layout) KeyDir() string        { return filepath.Join(l.DataDir, "keys") }
func (l Layout) ControlSocket() string { return filepath.Join(l.DataDir, "labd.sock") }

// Ensure creates the data directory, home/ and pub/ (with a README so that
// anonymous FTP and TFTP have something to fetch).
func (l Layout) Ensure() error {
	for _, d := range []string{l.DataDir, l.HomeRoot(), l.Pub()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w (is data_dir writable by the labd user?)", d, err)
		}
	}
	// The data directory holds the user database, keys and every home:
	// no other account on the host has business in it, whatever the umask
	// or an earlier version left.
	if err := os.Chmod(l.DataDir, 0o750); err != nil {
		return fmt.Errorf("restrict %s to 0750: %w", l.DataDir, err)
	}
	readme := filepath.Join(l.Pub(), "README.txt")
	if _, err := os.Stat(readme); errors.Is(err, os.ErrNotExist) {
		_ = os.WriteFile(readme, []byte("This is labd's public directory (anonymous FTP and TFTP).\n"), 0o644)
	}
	return nil
}

// EnsureHome creates home/<user>/ and its public_html/ with a first page.
func (l Layout) EnsureHome(user string) error {
	if !filepath.IsLocal(user) || strings.ContainsAny(user, `/\`) {
		return fmt.Errorf("home for %q: %w", user, ErrEscape)
	}
	h := l.Home(user)
	if err := os.MkdirAll(filepath.Join(h, "public_html"), 0o755); err != nil {
		return fmt.Errorf("create home of %s: %w", user, err)
	}
	idx := filepath.Join(h, "public_html", "index.html")
	if _, err := os.Stat(idx); errors.Is(err, os.ErrNotExist) {
		page := fmt.Sprintf("<!doctype html>\n<title>~%s</title>\n<h1>Page of %s</h1>\n<p>Edit public_html/index.html in your home (FTP, SFTP or the lab shell) to change this page.</p>\n", user, user)
		_ = os.WriteFile(idx, []byte(page), 0o644)
	}
	return nil
}

// Rel turns a virtual absolute path into a path relative to the root, for
// os.Root and io/fs ("." for the root itself).
func Rel(virtual string) string {
	r := strings.TrimPrefix(path.Clean("/"+virtual), "/")
	if r == "" {
		return "."
	}
	return r
}

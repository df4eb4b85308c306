// Package fsroot lays out labd's data directory (homes, pub/, database, TLS
// material) and resolves client-supplied paths inside a root so that no
// client ever leaves it: not with "..", not with an absolute path, not
// through a symlink that points outside.
package fsroot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrEscape is returned for a path that would leave its root.
var ErrEscape = errors.New("path leaves the permitted directory")

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

// Join resolves a client path against a virtual working directory and
// returns the virtual absolute path ("/a/b"). ".." never climbs above "/",
// as in a chroot: this is for interactive clients (FTP CWD, shell cd).
func Join(cwd, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = path.Join("/", cwd, p)
	}
	return path.Clean("/" + p)
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

// Resolve returns the host path of name inside root, refusing a name that
// is absolute, climbs with "..", or reaches outside root through a symlink
// (for a path that does not exist yet, its deepest existing parent is
// checked). Use it for one-shot requests (TFTP, HTTP); use os.OpenRoot for
// the operations themselves when possible, which also closes the window
// between check and use.
func Resolve(root, name string) (string, error) {
	name = filepath.FromSlash(name)
	if name == "" || filepath.IsAbs(name) || !filepath.IsLocal(name) {
		return "", fmt.Errorf("%q: %w", name, ErrEscape)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("root %s: %w", root, err)
	}
	full := filepath.Join(realRoot, name)
	probe := full
	for {
		real, err := filepath.EvalSymlinks(probe)
		if err == nil {
			if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
				return "", fmt.Errorf("%q: %w (symlink)", name, ErrEscape)
			}
			return full, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(probe); lerr == nil {
			// A dangling symlink: creating through it would land wherever
			// it points.
			return "", fmt.Errorf("%q: %w (dangling symlink)", name, ErrEscape)
		}
		parent := filepath.Dir(probe)
		if parent == probe || len(parent) < len(realRoot) {
			return full, nil
		}
		probe = parent
	}
}

package http

import (
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"sync"
	"time"
)

// smallFile is the size up to which a static file is kept in memory and
// sent from there: for a small file open, fstat, read and close cost more
// than the answer itself; sendfile wins beyond.
const smallFile = 64 << 10

// fileCacheBytes bounds the memory of the cache.
const fileCacheBytes = 16 << 20

// fileCache keeps the content of small static files, keyed by directory
// and name and checked against a fresh stat (size, modification and change
// times, inode) of the file and of its directory's path: a file edited or
// replaced by the teacher or a student is read again. The check is made
// at most once per freshFor and file (see there).
type fileCache struct {
	mu   sync.Mutex
	m    map[fileKey]*cachedFile
	used int
	// roots are the served directories, kept open while the path still
	// names the same directory.
	roots map[string]*rootEntry
}

type fileKey struct{ dir, name string }

// freshFor is how long a cached file's check against the file system
// holds: a request less than freshFor after the last check of the same
// file is answered from memory without the two stat calls (directory path
// and file: 9% of a keep-alive request's CPU). Only a file requested again
// within freshFor is affected, i.e. one under load, and for it an edit is
// served at the latest to a request that arrives freshFor after the edit
// completed: the same answer as if that request had arrived up to
// freshFor earlier, racing the edit. A student who saves a page and
// reloads, or a script that uploads and then fetches, is never that fast
// unless others fetch the same file meanwhile.
const freshFor = time.Millisecond

type cachedFile struct {
	data  []byte
	size  int64
	mtime time.Time
	stamp fileStamp
	// checked is when the file and its directory were last found
	// unchanged (taken before the stat calls; guarded by fileCache.mu).
	checked time.Time
	// The head of a plain 200 answer, as http.ServeContent would write
	// it; shared read-only by every answer (http.Header.Set and Add
	// replace or reallocate a value slice, they never write into it).
	etag, lastModified, contentType, contentLength []string
}

// maxRoots bounds the directories kept open (http.root and the users'
// public_html).
const maxRoots = 256

type rootEntry struct {
	root *os.Root
	id   dirID
	refs int
	gone bool
}

// openRoot returns an os.Root of dir, kept open between requests: one
// stat of the path per request tells whether it still names the same
// directory (a teacher replacing the directory is seen at once), instead
// of open, fstat and close (8% of a keep-alive request's CPU). Release it
// with closeRoot.
func (fc *fileCache) openRoot(dir string) (*rootEntry, error) {
	id, ok := dirIDOf(dir)
	if !ok {
		r, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		return &rootEntry{root: r, refs: 1, gone: true}, nil
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	e := fc.roots[dir]
	if e == nil || e.id != id {
		if e != nil {
			fc.retireLocked(dir, e)
		}
		r, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		// The directory opened, which may already differ from the one
		// stat saw: the next request then opens it again.
		e = &rootEntry{root: r, id: id}
		if len(fc.roots) >= maxRoots {
			for d, old := range fc.roots {
				fc.retireLocked(d, old)
			}
		}
		if fc.roots == nil {
			fc.roots = map[string]*rootEntry{}
		}
		fc.roots[dir] = e
	}
	e.refs++
	return e, nil
}

func (fc *fileCache) retireLocked(dir string, e *rootEntry) {
	delete(fc.roots, dir)
	e.gone = true
	if e.refs == 0 {
		e.root.Close()
	}
}

func (fc *fileCache) closeRoot(e *rootEntry) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	e.refs--
	if e.gone && e.refs == 0 {
		e.root.Close()
	}
}

var acceptRanges = []string{"bytes"}

// isConditional says whether k (canonical) is a request header
// http.ServeContent acts on; without them a cached file's answer is the
// plain 200.
func isConditional(k string) bool {
	switch k {
	case "Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range":
		return true
	}
	return false
}

// serveCached answers a cached file as http.ServeContent would, with the
// head prepared once (ServeContent formats the date, length and type on
// every request); conditional and range requests go to ServeContent.
func (c *cachedFile) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	// A request carries few headers (a load generator's none but Host,
	// which is not in the map): looking at those it has costs less than
	// looking up the six.
	for k := range r.Header {
		if isConditional(k) {
			return false
		}
	}
	h := w.Header()
	if _, ok := h["Content-Encoding"]; ok {
		return false
	}
	h["Etag"] = c.etag
	if c.lastModified != nil {
		h["Last-Modified"] = c.lastModified
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = c.contentType
	}
	h["Accept-Ranges"] = acceptRanges
	h["Content-Length"] = c.contentLength
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(c.data)
	}
	return true
}

func sameFile(c *cachedFile, st fs.FileInfo) bool {
	if c.size != st.Size() || !c.mtime.Equal(st.ModTime()) {
		return false
	}
	stamp, ok := stampOf(st)
	return ok && stamp == c.stamp
}

// fresh returns the cached file dir/name if it was checked less than
// freshFor ago.
func (fc *fileCache) fresh(dir, name string) *cachedFile {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	c := fc.m[fileKey{dir, name}]
	if c == nil || time.Since(c.checked) >= freshFor {
		return nil
	}
	return c
}

// get returns the cached file dir/name if st, taken at checked or later,
// shows it unchanged.
func (fc *fileCache) get(dir, name string, st fs.FileInfo, checked time.Time) (*cachedFile, bool) {
	if st.Size() > smallFile {
		return nil, false
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	c := fc.m[fileKey{dir, name}]
	if c == nil || !sameFile(c, st) {
		return nil, false
	}
	if checked.After(c.checked) {
		c.checked = checked
	}
	return c, true
}

// put keeps data, the content of dir/name as st shows it, stat'ed at
// checked or later.
func (fc *fileCache) put(dir, name string, st fs.FileInfo, data []byte, checked time.Time) {
	stamp, ok := stampOf(st)
	if !ok || int64(len(data)) != st.Size() {
		return
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.m == nil {
		fc.m = map[fileKey]*cachedFile{}
	}
	k := fileKey{dir, name}
	if old := fc.m[k]; old != nil {
		fc.used -= len(old.data)
	}
	// Over the bound, forget arbitrary entries: the hot files come back
	// at their next request.
	for key, c := range fc.m {
		if fc.used+len(data) <= fileCacheBytes {
			break
		}
		fc.used -= len(c.data)
		delete(fc.m, key)
	}
	c := &cachedFile{data: data, size: st.Size(), mtime: st.ModTime(), stamp: stamp, checked: checked,
		etag:          []string{etagOf(st)},
		contentLength: []string{strconv.FormatInt(st.Size(), 10)},
	}
	// As http.ServeContent: no Last-Modified for a zero or epoch time;
	// the type from the extension, else sniffed.
	if mt := st.ModTime(); !mt.IsZero() && !mt.Equal(time.Unix(0, 0)) {
		c.lastModified = []string{mt.UTC().Format(http.TimeFormat)}
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data[:min(len(data), 512)])
	}
	c.contentType = []string{ctype}
	fc.m[k] = c
	fc.used += len(data)
}

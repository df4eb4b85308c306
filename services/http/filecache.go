package http

import (
	"io/fs"
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
// and name and checked on every request against a fresh stat (size,
// modification and change times, inode): a file edited or replaced by the
// teacher is read again at once.
type fileCache struct {
	mu   sync.Mutex
	m    map[fileKey]*cachedFile
	used int
}

type fileKey struct{ dir, name string }

type cachedFile struct {
	data  []byte
	size  int64
	mtime time.Time
	stamp fileStamp
}

func sameFile(c *cachedFile, st fs.FileInfo) bool {
	if c.size != st.Size() || !c.mtime.Equal(st.ModTime()) {
		return false
	}
	stamp, ok := stampOf(st)
	return ok && stamp == c.stamp
}

func (fc *fileCache) get(dir, name string, st fs.FileInfo) ([]byte, bool) {
	if st.Size() > smallFile {
		return nil, false
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	c := fc.m[fileKey{dir, name}]
	if c == nil || !sameFile(c, st) {
		return nil, false
	}
	return c.data, true
}

func (fc *fileCache) put(dir, name string, st fs.FileInfo, data []byte) {
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
	fc.m[k] = &cachedFile{data: data, size: st.Size(), mtime: st.ModTime(), stamp: stamp}
	fc.used += len(data)
}

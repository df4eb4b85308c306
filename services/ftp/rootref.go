package ftp

import "sync"

// rootHold counts who still needs a rootFs's os.Root: the client that
// logged in (until it disconnects or logs in again) and every transfer
// under way. A transfer's Close removes its temporary file, or renames it
// over the real name, in the root: when the client hangs up mid-upload,
// the library reports the disconnection before it closes the transfer,
// and a root closed then left the temporary file behind for good.
type rootHold struct {
	mu sync.Mutex
	// users are the transfers holding the root; released: the client
	// let go, the root closes with its last transfer.
	users    int
	released bool
}

// acquire takes the root for a transfer; false once the client let go.
func (h *rootHold) acquire() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return false
	}
	h.users++
	return true
}

// endTransfer lets go of r's root for a transfer that was closed.
func (r *rootFs) endTransfer() {
	h := &r.hold
	h.mu.Lock()
	h.users--
	last := h.released && h.users == 0
	h.mu.Unlock()
	if last {
		r.root.Close()
	}
}

// release lets go of r's root for the client (it disconnected or logged
// in again): the root closes now, or with the last transfer under way.
func (r *rootFs) release() {
	h := &r.hold
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return
	}
	h.released = true
	last := h.users == 0
	h.mu.Unlock()
	if last {
		r.root.Close()
	}
}

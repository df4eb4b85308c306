//go:build !unix

package http

// directWrite is unix-only (trywrite_unix.go): elsewhere every write
// goes through the blocking Write with its deadline armed.
type directWrite struct{}

func (c *captureConn) initDirect() {}

func (c *captureConn) tryWrite(b []byte) (int, bool, error) { return 0, false, nil }

//go:build !linux

package imap

import "net"

// quickAcker is a no-op where TCP_QUICKACK does not exist.
type quickAcker struct{}

func newQuickAcker(net.Conn) quickAcker { return quickAcker{} }

func (quickAcker) now() {}

func (quickAcker) cork(bool) {}

func (quickAcker) canWait() bool { return false }

func (quickAcker) waitReadable() error { return nil }

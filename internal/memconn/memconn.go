// Package memconn is a net.Conn in memory for the tests of the parsers
// that sit on a connection (in-package fuzz targets cannot use labtest,
// which imports every service).
package memconn

import (
	"bytes"
	"io"
	"net"
	"time"
)

// Conn reads from In, at most Chunk bytes per Read when Chunk > 0, then
// io.EOF, and keeps what is written in Out. Deadlines are ignored.
type Conn struct {
	In    []byte
	Chunk int
	Out   bytes.Buffer
}

// New returns a Conn that reads in and then io.EOF.
func New(in []byte) *Conn { return &Conn{In: in} }

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.In) == 0 {
		return 0, io.EOF
	}
	k := len(c.In)
	if c.Chunk > 0 {
		k = min(k, c.Chunk)
	}
	n := copy(p, c.In[:k])
	c.In = c.In[n:]
	return n, nil
}

func (c *Conn) Write(p []byte) (int, error)      { return c.Out.Write(p) }
func (c *Conn) Close() error                     { return nil }
func (c *Conn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *Conn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *Conn) SetDeadline(time.Time) error      { return nil }
func (c *Conn) SetReadDeadline(time.Time) error  { return nil }
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*Conn)(nil)

package ftp

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// sinkConn records whether a download reached its ReadFrom (the recording
// conn's, which sendfiles a file) or came as writes.
type sinkConn struct {
	net.Conn
	readFrom bool
	written  bytes.Buffer
}

func (c *sinkConn) ReadFrom(r io.Reader) (int64, error) {
	c.readFrom = true
	return io.Copy(&c.written, r)
}

func (c *sinkConn) Write(p []byte) (int, error) { return c.written.Write(p) }

// sourceConn records whether an upload reached its WriteTo (the recording
// conn's, which splices the socket into the file).
type sourceConn struct {
	net.Conn
	data    string
	writeTo bool
}

func (c *sourceConn) WriteTo(w io.Writer) (int64, error) {
	c.writeTo = true
	n, err := io.WriteString(w, c.data)
	return int64(n), err
}

// TestOwnerConnKeepsSplice: an upload read from the data conn reaches the
// conn below's WriteTo (splice into the file), as io.Copy(file, conn) in
// the library does it.
func TestOwnerConnKeepsSplice(t *testing.T) {
	src := &sourceConn{data: "uploaded"}
	oc := &ownerConn{Conn: src, client: &client{}}
	var got bytes.Buffer
	if _, err := io.Copy(&got, oc); err != nil {
		t.Fatal(err)
	}
	if !src.writeTo || got.String() != "uploaded" {
		t.Errorf("upload: WriteTo passed on %v, got %q", src.writeTo, got.String())
	}
}

// TestOwnerConnKeepsZeroCopy: the passive data conn that rewrites LIST
// owners passes a download to the conn below's ReadFrom (sendfile), and a
// listing through Write.
func TestOwnerConnKeepsZeroCopy(t *testing.T) {
	sink := &sinkConn{}
	oc := &ownerConn{Conn: sink, client: &client{}}
	if _, err := oc.ReadFrom(strings.NewReader("file data")); err != nil {
		t.Fatal(err)
	}
	if !sink.readFrom || sink.written.String() != "file data" {
		t.Errorf("download: ReadFrom passed on %v, got %q", sink.readFrom, sink.written.String())
	}
	sink2 := &sinkConn{}
	cl := &client{}
	cl.listing.Store(true)
	oc = &ownerConn{Conn: sink2, client: cl}
	if _, err := oc.ReadFrom(strings.NewReader("a listing\r\n")); err != nil {
		t.Fatal(err)
	}
	if sink2.readFrom || sink2.written.String() != "a listing\r\n" {
		t.Errorf("listing: ReadFrom passed on %v, got %q", sink2.readFrom, sink2.written.String())
	}
}

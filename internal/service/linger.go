package service

import (
	"net"
	"time"

	"labd/internal/netconn"
)

// Linger ends a connection that a server closes on its own initiative
// (a stop, after the protocol's last word: IMAP's BYE, FTP's 421) without
// resetting it. Closing a socket that still holds unread data from the
// client (a command sent as the server decided to stop) sends a reset,
// which on some systems (Windows) discards the server's last reply
// before the client reads it. Linger shuts the writing side of the first
// conn down from c that can (TLS: close_notify; TCP: FIN), then reads
// and drops what the client still sends, for at most lingerFor or
// lingerMax bytes, until it closes its side. The caller closes c after.
//
// The wait ends with a read deadline already past, set when lingerFor is
// over: a conn that raises deadlines to come (IMAP's patient conn) lets
// a past one through.
func Linger(c net.Conn) {
	cw, ok := netconn.Find[interface{ CloseWrite() error }](c)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	// The old deadline is cleared before the timer starts, never after:
	// on a loaded machine the timer may fire first, and its deadline
	// would be undone (the wait then lasted as long as the client).
	_ = c.SetReadDeadline(time.Time{})
	wake := time.AfterFunc(lingerFor, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer wake.Stop()
	buf := make([]byte, 512)
	for n := 0; n < lingerMax; {
		k, err := c.Read(buf)
		n += k
		if err != nil {
			return
		}
	}
}

const (
	lingerFor = 500 * time.Millisecond
	lingerMax = 64 << 10
)

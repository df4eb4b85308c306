package tftp

import (
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"strconv"

	"labd/internal/sessions"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	opRRQ  = 1
	opWRQ  = 2
	opDATA = 3
	opACK  = 4
	opOACK = 6
)

// wireLog records a transfer's datagrams for the pcapng export. pin/tftp
// owns the transfer socket, so labd sees the payload, not the packets:
// the packets are rebuilt where the library's lock-step makes them
// certain (DATA n is sent when its block is full; the read of block n+1
// starts when ACK n has arrived), and recorded at those moments.
type wireLog struct {
	t        *transfer
	reqLocal string // the request socket (port 69), if known
	blk      int
	block    uint16
	pending  []byte
	opened   bool // OACK or ACK 0 recorded
	unacked  bool // DATA block recorded, its ACK not yet
	finished bool
}

func (s *Service) requestLocal(t *transfer, local string) string {
	host, _, err := net.SplitHostPort(local)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
			if ua.IP.IsUnspecified() || ua.IP.String() == host {
				return net.JoinHostPort(host, strconv.Itoa(ua.Port))
			}
		}
	}
	return ""
}

// request records the RRQ or WRQ as the client sent it.
func (w *wireLog) request(op uint16, file, mode string, opts map[string]string) {
	p := binary.BigEndian.AppendUint16(nil, op)
	p = append(p, file...)
	p = append(p, 0)
	p = append(p, mode...)
	p = append(p, 0)
	p = appendOptions(p, opts)
	name := "RRQ"
	if op == opWRQ {
		name = "WRQ"
	}
	w.t.sess.Datagram(sessions.FromClient, fmt.Appendf(nil, "%s %q mode %s", name, file, mode), p, w.reqLocal)
}

func appendOptions(p []byte, opts map[string]string) []byte {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p = append(p, k...)
		p = append(p, 0)
		p = append(p, opts[k]...)
		p = append(p, 0)
	}
	return p
}

// open records the server's first answer: OACK (then, for a read, the
// client's ACK 0), or ACK 0 for a write without options.
func (w *wireLog) open(read bool) {
	if w.opened {
		return
	}
	w.opened = true
	w.blk = 512
	acked := w.t.in.options()
	if v, err := strconv.Atoi(acked["blksize"]); err == nil && v > 0 {
		w.blk = v
	}
	if len(acked) > 0 {
		p := appendOptions(binary.BigEndian.AppendUint16(nil, opOACK), acked)
		w.t.sess.Datagram(sessions.FromServer, []byte("OACK "+formatOptions(acked)), p, "")
		if read {
			w.ack(sessions.FromClient, 0)
		}
	} else if !read {
		w.ack(sessions.FromServer, 0)
	}
}

func (w *wireLog) ack(dir sessions.Direction, n uint16) {
	p := binary.BigEndian.AppendUint16(nil, opACK)
	p = binary.BigEndian.AppendUint16(p, n)
	w.t.sess.Datagram(dir, fmt.Appendf(nil, "ACK block %d", n), p, "")
}

func (w *wireLog) data(dir sessions.Direction, payload []byte) {
	w.block++
	p := binary.BigEndian.AppendUint16(nil, opDATA)
	p = binary.BigEndian.AppendUint16(p, w.block)
	p = append(p, payload...)
	w.t.sess.Datagram(dir, fmt.Appendf(nil, "DATA block %d, %d bytes", w.block, len(payload)), p, "")
}

// read is called with what the library read from the file for sending;
// eof when the file is exhausted.
func (w *wireLog) read(b []byte, eof bool) {
	if w.finished {
		return
	}
	w.open(true)
	if w.unacked {
		// The library reads the next block only once the last is ACKed.
		w.ack(sessions.FromClient, w.block)
		w.unacked = false
	}
	w.pending = append(w.pending, b...)
	for len(w.pending) >= w.blk {
		w.data(sessions.FromServer, w.pending[:w.blk])
		w.pending = w.pending[w.blk:]
		w.unacked = true
	}
	if eof && !w.finished {
		w.finished = true
		w.data(sessions.FromServer, w.pending)
		w.pending = nil
		w.unacked = true
	}
}

// wrote is called with the payload of each DATA block received.
func (w *wireLog) wrote(b []byte) {
	w.open(false)
	w.data(sessions.FromClient, b)
	w.ack(sessions.FromServer, w.block)
}

// done records the last ACK of a successful read.
func (w *wireLog) done(ok bool) {
	if ok && w.unacked {
		w.ack(sessions.FromClient, w.block)
		w.unacked = false
	}
}

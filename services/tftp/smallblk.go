package tftp

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// RFC 2348 allows blksize 8..65464; pin/tftp v3.1.0 ignores any value
// under 512 (and over 65464). labd clamps a larger request to 65464
// (the server may answer a smaller value) and serves reads with a block
// size of 8..511 itself with sendSmall, on the transfer's own socket.
const (
	minBlksize = 8
	maxBlksize = 65464
)

// negotiateBlksize adjusts the client's blksize request before the
// library sees it; it returns the block size labd must serve itself
// (8..511, reads only), or 0 to let the library go on.
func (t *transfer) negotiateBlksize() int {
	v, ok := t.requested["blksize"]
	if !ok || t.s.cfg.MaxBlockSize <= 512 {
		return 0 // max_blksize 512: the option is off (begin dropped it)
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < minBlksize:
		t.in.dropOption("blksize") // invalid: not acknowledged
	case n > maxBlksize:
		t.in.setOption("blksize", strconv.Itoa(maxBlksize))
	case n < 512 && t.dir == "read" && t.conn != nil:
		return n
	}
	return 0
}

// sendSmall runs an RRQ with block size blk: OACK (blksize, and tsize
// when asked), then DATA/ACK lock-step with the library's timeout and
// retries. The payload comes from r, the file's size is size.
func (t *transfer) sendSmall(r io.Reader, blk int, size int64) error {
	defer t.conn.Close()
	acked := map[string]string{"blksize": strconv.Itoa(blk)}
	oack := []byte{0, 6}
	oack = append(append(append(oack, "blksize"...), 0), strconv.Itoa(blk)...)
	oack = append(oack, 0)
	if _, ok := t.requested["tsize"]; ok {
		acked["tsize"] = strconv.FormatInt(size, 10)
		oack = append(append(append(oack, "tsize"...), 0), acked["tsize"]...)
		oack = append(oack, 0)
	}
	t.acked = acked
	if err := t.lockstep(oack, 0); err != nil {
		return err
	}
	buf := make([]byte, 4+blk)
	for block := uint16(1); ; block++ {
		binary.BigEndian.PutUint16(buf[0:], 3)
		binary.BigEndian.PutUint16(buf[2:], block)
		n, err := io.ReadFull(r, buf[4:])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return err
		}
		if err := t.lockstep(buf[:4+n], block); err != nil {
			return err
		}
		if n < blk {
			return nil
		}
	}
}

// lockstep sends pkt until the client acknowledges block.
func (t *transfer) lockstep(pkt []byte, block uint16) error {
	timeout, retries := t.s.cfg.Timeout.D(), max(t.s.cfg.Retries, 1)
	in := make([]byte, 1024)
	for try := 0; try < retries; try++ {
		if _, err := t.conn.WriteToUDP(pkt, &t.remote); err != nil {
			return err
		}
		deadline := time.Now().Add(timeout)
		for {
			_ = t.conn.SetReadDeadline(deadline)
			n, from, err := t.conn.ReadFromUDP(in)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break // send again
			}
			if err != nil {
				return err
			}
			if from.Port != t.remote.Port || !from.IP.Equal(t.remote.IP) {
				_, _ = t.conn.WriteToUDP(errorPacket(5, "unknown transfer ID"), from)
				continue
			}
			if n < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(in) {
			case 4: // ACK
				if binary.BigEndian.Uint16(in[2:]) == block {
					return nil
				}
			case 5: // ERROR
				return errorf(errNotDefined, "the client aborted the transfer")
			}
		}
	}
	return errorf(errNotDefined, "timeout: the client stopped answering")
}

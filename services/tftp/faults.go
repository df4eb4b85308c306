package tftp

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// applyLoss serves the teacher's tftp loss fault. pin/tftp sends and
// receives on a socket of its own, so labd cannot drop the library's
// packets itself; instead a classic BPF filter on that socket makes the
// kernel drop the given share of the datagrams that reach it: the ACKs of
// a download, the DATA of an upload. labd's retransmissions (download)
// and the client's (upload) follow, as on a lossy link.
func (t *transfer) applyLoss() {
	if t.conn == nil {
		return
	}
	f, ok := t.s.deps.Faults.Match("tftp", "loss", "", t.remote.String())
	if !ok {
		return
	}
	p := f.Int("percent")
	if err := dropShare(t.conn, p); err != nil {
		t.sess.Notef("fault %d (%s): cannot drop packets on this socket: %v", f.ID, f, err)
		return
	}
	what := "ACK"
	if t.dir == "write" {
		what = "DATA"
	}
	t.sess.Notef("fault %d (%s): about %d%% of the %s packets reaching labd are dropped; each loss costs a timeout (tftp.timeout) and a retransmission", f.ID, f, p, what)
}

// dropShare attaches a socket filter that drops percent% of incoming
// datagrams at random.
func dropShare(c *net.UDPConn, percent int) error {
	prog, err := lossFilter(percent)
	if err != nil {
		return err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	})
	if err != nil {
		return err
	}
	return serr
}

// lossFilter is the BPF program: drop when a random 32-bit number is
// below the share, accept the whole packet otherwise.
func lossFilter(percent int) ([]unix.SockFilter, error) {
	thr := uint32(math.Min(float64(percent)/100*math.MaxUint32, math.MaxUint32))
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: thr, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 0xffffffff},
	})
	if err != nil {
		return nil, fmt.Errorf("assemble the loss filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// dupReader serves the tftp duplicate fault on downloads: it sees the
// file's bytes as the library reads them for each DATA block (the library
// fills one block per io.ReadFull, so the first Read's size is the block
// size) and, for the given share of blocks, sends a copy of the DATA
// packet from the transfer's socket shortly after the library sent it.
// The client receives the block twice (RFC 1123 4.2.3.1's Sorcerer's
// Apprentice lesson): it must not answer both.
type dupReader struct {
	r       io.Reader
	t       *transfer
	percent int
	blk     int
	block   uint16
	cur     []byte
	sent    int
}

func (d *dupReader) Read(p []byte) (int, error) {
	if d.blk == 0 {
		d.blk = len(p)
		d.block = 1
	}
	n, err := d.r.Read(p)
	d.cur = append(d.cur, p[:n]...)
	for len(d.cur) >= d.blk {
		d.maybeDup(d.cur[:d.blk])
		d.cur = d.cur[d.blk:]
	}
	if err == io.EOF {
		// The last block is short (possibly empty).
		d.maybeDup(d.cur)
		d.cur = nil
	}
	return n, err
}

func (d *dupReader) maybeDup(data []byte) {
	block := d.block
	d.block++
	if rand.IntN(100) >= d.percent || d.t.conn == nil {
		return
	}
	pkt := make([]byte, 4+len(data))
	binary.BigEndian.PutUint16(pkt[0:2], opDATA)
	binary.BigEndian.PutUint16(pkt[2:4], block)
	copy(pkt[4:], data)
	d.sent++
	remote := d.t.remote
	conn := d.t.conn
	// After the library's own send of this block, which follows the read.
	time.AfterFunc(20*time.Millisecond, func() { _, _ = conn.WriteToUDP(pkt, &remote) })
}

// applyDuplicate wraps the download reader when the duplicate fault is on.
func (t *transfer) applyDuplicate(r io.Reader) (io.Reader, *dupReader) {
	f, ok := t.s.deps.Faults.Match("tftp", "duplicate", "", t.remote.String())
	if !ok || t.conn == nil {
		return r, nil
	}
	t.sess.Notef("fault %d (%s): about %d%% of the DATA blocks are sent twice", f.ID, f, f.Int("percent"))
	d := &dupReader{r: r, t: t, percent: f.Int("percent")}
	return d, d
}

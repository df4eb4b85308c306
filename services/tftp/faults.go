package tftp

import (
	"fmt"
	"math"
	"net"

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

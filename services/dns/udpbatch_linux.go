//go:build linux

package dns

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a worker reads up to udpBatch packets with one recvmmsg and
// sends the packed answers among them with one sendmmsg: under dnsperf the
// two system calls per query were 40% of labd's CPU. Packets that need the
// slow path (parsing, forwarding, faults) are answered after the batch's
// packed answers left, one by one as before; when an answer may wait (for
// a forwarder or a delay fault), each goes to a worker of its own, so that
// one waiting holds back neither the others nor the reading.
//
// The two system calls are made here rather than through x/net's
// ReadBatch/WriteBatch, for two reasons the profiles showed. x/net makes a
// net.UDPAddr for every packet read (garbage per query) and marshals it
// back for the answer; here the sender's raw address is read into the
// batch's own buffer and the answer is sent to that same buffer. And x/net
// (like any net.Conn call) enters the system call as a blocking one: a
// sendmmsg of 16 answers on loopback outlasts the scheduler monitor's 20
// µs tick, so the monitor took the P away during nearly every batch,
// started another thread for it and then kept waking every 20 µs itself
// (a quarter of labd's samples in the kernel were these thread switches).
// On a non-blocking socket neither call can wait (no room or no packet:
// EAGAIN, and the poller waits instead), so they are raw system calls, as
// the runtime makes its own short ones.

// udpBatch is how many packets one recvmmsg reads at most. Under dnsperf
// batches of 8 came back full (7.3 packets on average); 16 did a little
// better.
const udpBatch = 16

// batchConn is the socket's raw connection, for recvmmsg and sendmmsg.
type batchConn = syscall.RawConn

// newBatchConn returns the socket's raw connection, or nil if it has
// none (then one packet per system call).
func newBatchConn(conn *net.UDPConn) batchConn {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// udpBatchState is a batching worker's buffers, pooled like
// udpWorkerState: the headers the kernel fills, the packets, the senders'
// raw addresses and control messages, and the answers' headers.
type udpBatchState struct {
	hdrs   [udpBatch]unix.Mmsghdr
	iovs   [udpBatch]unix.Iovec
	names  [udpBatch]unix.RawSockaddrInet6
	bufs   [udpBatch][]byte
	oobs   [udpBatch][]byte
	n      int // packets read
	outs   []udpOut
	whdrs  [udpBatch]unix.Mmsghdr
	wiovs  [udpBatch]unix.Iovec
	wn     int // headers to send
	sent   int
	errno  syscall.Errno
	misses []udpMiss
	w      udpWriter
	// read and write are the RawConn callbacks, made once: a closure
	// made per call would be garbage per batch.
	read, write func(fd uintptr) bool
}

// udpMiss is a packet of the batch for the slow path.
type udpMiss struct {
	i   int
	v   verdict
	rot int
}

func (u *udpServer) newBatchState() *udpBatchState {
	st := &udpBatchState{w: udpWriter{u: u}}
	for i := range st.bufs {
		st.bufs[i] = make([]byte, maxUDP)
		if u.oob {
			// A wildcard IPv6 socket that also takes IPv4 gets both
			// families' control messages for an IPv4 packet.
			st.oobs[i] = make([]byte, 2*udpOOBSize)
		}
	}
	st.read = st.recvmmsg
	st.write = st.sendmmsg
	return st
}

// recvmmsg is the RawConn.Read callback: false (wait for the socket) on
// EAGAIN.
func (st *udpBatchState) recvmmsg(fd uintptr) bool {
	for i := range st.hdrs {
		h := &st.hdrs[i]
		st.iovs[i].Base = &st.bufs[i][0]
		st.iovs[i].SetLen(len(st.bufs[i]))
		h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&st.names[i])), Namelen: unix.SizeofSockaddrInet6, Iov: &st.iovs[i]}
		h.Hdr.SetIovlen(1)
		if oob := st.oobs[i]; len(oob) > 0 {
			h.Hdr.Control = &oob[0]
			h.Hdr.SetControllen(len(oob))
		}
		h.Len = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&st.hdrs[0])), udpBatch, 0, 0, 0)
	if errno == unix.EAGAIN {
		return false
	}
	st.n, st.errno = int(n), errno
	return true
}

// sendmmsg is the RawConn.Write callback for whdrs[sent:wn].
func (st *udpBatchState) sendmmsg(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&st.whdrs[st.sent])), uintptr(st.wn-st.sent), 0, 0, 0)
	if errno == unix.EAGAIN {
		return false
	}
	if errno == 0 && n == 0 {
		errno = unix.EIO // none sent and no reason: not a loop
	}
	st.errno = errno
	if errno == 0 {
		st.sent += int(n)
	}
	return true
}

// readBatch reads up to udpBatch packets, waiting for the first.
func (u *udpServer) readBatch(st *udpBatchState) (int, error) {
	st.n, st.errno = 0, 0
	if err := u.batch.Read(st.read); err != nil {
		return 0, err
	}
	if st.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", st.errno)
	}
	return st.n, nil
}

// sender is the address of message i as the kernel gave it, an IPv4 one
// in its own form (not mapped).
func (st *udpBatchState) sender(i int) (netip.AddrPort, bool) {
	sa := &st.names[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port)), true
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(zoneName(sa.Scope_id))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port)), true
	}
	return netip.AddrPort{}, false
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zoneName is the zone of a link-local sender, as net names it.
func zoneName(idx uint32) string {
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		return ifi.Name
	}
	return itoa(int(idx))
}

func (u *udpServer) batchWorker() {
	defer u.wg.Done()
	defer u.workers.Add(-1)
	st, _ := u.batchStates.Get().(*udpBatchState)
	if st == nil {
		st = u.newBatchState()
	}
	defer u.batchStates.Put(st)
	w := &st.w
	for {
		u.idle.Add(1)
		n, err := u.readBatch(st)
		if again, ok := u.afterRead(err); !ok {
			if again {
				continue
			}
			return
		}
		// The packed answers first, all in one sendmmsg.
		st.outs, st.misses = st.outs[:0], st.misses[:0]
		w.batch = &st.outs
		for i := 0; i < n; i++ {
			if !st.resetWriter(w, i) {
				continue
			}
			if !u.tryCached(w, st.packet(i)) {
				st.misses = append(st.misses, udpMiss{i, w.verdict, w.rot})
			}
		}
		w.batch = nil
		u.flush(st)
		// Then the others, each with the verdict and rotation step the
		// lookup drew for it; if one may wait, each in a worker of its
		// own (with a copy of the packet: a waiting worker holding the
		// batch's buffers would hold 64 KiB).
		apart := len(st.misses) > 0 && u.mayBlock != nil && u.mayBlock()
		for _, x := range st.misses {
			if apart && u.workers.Load() < udpMaxWorkers {
				u.spawnSlow(st, x)
				continue
			}
			st.resetWriter(w, x.i)
			w.verdict, w.rot = x.v, x.rot
			u.slow(w, st.packet(x.i))
		}
		if u.idle.Load() >= u.keepIdle {
			return
		}
	}
}

// packet is message i's datagram.
func (st *udpBatchState) packet(i int) []byte {
	return st.bufs[i][:st.hdrs[i].Len]
}

// control is message i's control messages (the whole ones that fitted).
func (st *udpBatchState) control(i int) []byte {
	if len(st.oobs[i]) == 0 {
		return nil
	}
	return st.oobs[i][:st.hdrs[i].Hdr.Controllen]
}

// resetWriter points w at the sender of message i; false if it has no
// usable address.
func (st *udpBatchState) resetWriter(w *udpWriter, i int) bool {
	raddr, ok := st.sender(i)
	if !ok {
		return false
	}
	w.reset(raddr, st.control(i))
	w.msg = i
	return true
}

// spawnSlow answers one packet of a batch on the slow path in a worker of
// its own (with copies: the batch's buffers are read into again).
func (u *udpServer) spawnSlow(st *udpBatchState, x udpMiss) {
	raddr, ok := st.sender(x.i)
	if !ok {
		return
	}
	pkt := append([]byte(nil), st.packet(x.i)...)
	oob := append([]byte(nil), st.control(x.i)...)
	u.workers.Add(1)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.workers.Add(-1)
		w := &udpWriter{u: u}
		w.reset(raddr, oob)
		w.verdict, w.rot = x.v, x.rot
		u.slow(w, pkt)
	}()
}

// flush sends the batch's packed answers, each to the raw address its
// query came from; an answer the kernel refuses is noted in its session
// and the rest still go.
func (u *udpServer) flush(st *udpBatchState) {
	outs := st.outs
	for i, o := range outs {
		h := &st.whdrs[i]
		st.wiovs[i].Base = &o.b[0]
		st.wiovs[i].SetLen(len(o.b))
		from := &st.hdrs[o.msg].Hdr
		h.Hdr = unix.Msghdr{Name: from.Name, Namelen: from.Namelen, Iov: &st.wiovs[i]}
		h.Hdr.SetIovlen(1)
		if len(o.oob) > 0 {
			h.Hdr.Control = &o.oob[0]
			h.Hdr.SetControllen(len(o.oob))
		}
		h.Len = 0
	}
	st.wn, st.sent = len(outs), 0
	for st.sent < st.wn {
		st.errno = 0
		err := u.batch.Write(st.write)
		if err == nil && st.errno == 0 {
			continue
		}
		if err == nil {
			err = os.NewSyscallError("sendmmsg", st.errno)
		}
		outs[st.sent].sess.Notef("write failed: %v", err)
		st.sent++
	}
	// The sessions and buffers belong to the transcripts now.
	clear(st.outs)
	for i := range st.wn {
		st.whdrs[i].Hdr = unix.Msghdr{}
		st.wiovs[i] = unix.Iovec{}
	}
}

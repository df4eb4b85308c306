package dns

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpServer answers DNS over one UDP socket with a small pool of
// long-lived goroutines instead of miekg/dns's goroutine per packet: in
// the profile of dnsperf against labd, that goroutine's stack growth
// (runtime.newstack/copystack) was 15% of the CPU, and re-packing the
// query for the transcript another 4%. A worker reads a packet, makes sure
// another worker is reading while it answers (a forwarded query or a delay
// fault may block it for seconds), answers, and goes back to reading;
// workers beyond a few idle ones end. What the handler sees is what
// miekg/dns's server gave it: the parsed query and a ResponseWriter.
type udpServer struct {
	conn    *net.UDPConn
	handler dns.Handler
	// cached answers from the packed answers when it can (nil: never).
	cached func(w *udpWriter, wire []byte) (done bool, v verdict, rot int)
	// mayBlock says whether an answer may wait (a forwarder, a delay
	// fault); nil: never.
	mayBlock func() bool
	local    string
	// oob: the socket is bound to a wildcard address, so the answer must
	// leave from the address the query came to (IP_PKTINFO), as miekg/dns
	// does.
	oob bool

	idle, workers atomic.Int32
	// keepIdle: a worker that finds this many others idle ends.
	keepIdle int32
	states   sync.Pool // of *udpWorkerState
	// batch is the socket's recvmmsg/sendmmsg (udpbatch.go); nil: one
	// packet per system call.
	batch       batchConn
	batchStates sync.Pool // of *udpBatchState
	wg          sync.WaitGroup
	errOnce     sync.Once
	err         error
}

// udpMaxWorkers bounds the goroutines of one socket (blocked forwarded
// queries included); beyond, queries wait in the socket buffer.
const udpMaxWorkers = 1024

// udpOOBSize is the room for the destination-address control message.
var udpOOBSize = max(len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface)),
	len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface)))

func newUDPServer(conn *net.UDPConn, h dns.Handler) *udpServer {
	u := &udpServer{conn: conn, handler: h, local: conn.LocalAddr().String(),
		keepIdle: int32(runtime.GOMAXPROCS(0) + 1)}
	if s, ok := h.(*Service); ok {
		u.cached = s.serveCached
		u.mayBlock = s.mayBlock
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.IsUnspecified() {
		// Both families, as miekg/dns's setUDPSocketOptions: a "::"
		// socket also receives IPv4.
		err6 := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
		err4 := ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
		u.oob = err4 == nil || err6 == nil
	}
	u.batch = newBatchConn(conn)
	return u
}

// serve answers until the socket is closed (nil) or fails.
func (u *udpServer) serve() error {
	u.spawn()
	u.wg.Wait()
	return u.err
}

func (u *udpServer) spawn() {
	u.workers.Add(1)
	u.wg.Add(1)
	if u.batch != nil {
		go u.batchWorker()
		return
	}
	go u.worker()
}

// udpWorkerState is what a worker reads and answers with; kept in a pool,
// since under load workers come and go by the thousand a second.
type udpWorkerState struct {
	buf, oob []byte
	w        udpWriter
}

func (u *udpServer) worker() {
	defer u.wg.Done()
	defer u.workers.Add(-1)
	st, _ := u.states.Get().(*udpWorkerState)
	if st == nil {
		st = &udpWorkerState{buf: make([]byte, maxUDP), w: udpWriter{u: u}}
		if u.oob {
			st.oob = make([]byte, udpOOBSize)
		}
	}
	defer u.states.Put(st)
	buf, oob, w := st.buf, st.oob, &st.w
	keepIdle := u.keepIdle
	for {
		u.idle.Add(1)
		n, oobn, _, raddr, err := u.conn.ReadMsgUDPAddrPort(buf, oob)
		if again, ok := u.afterRead(err); !ok {
			if again {
				continue
			}
			return
		}
		w.reset(raddr, oob[:oobn])
		u.handle(w, buf[:n])
		if u.idle.Load() >= keepIdle {
			return
		}
	}
}

// afterRead is a worker's bookkeeping after a read: ok if it read
// packets (a worker is spawned if no other one is left reading); otherwise
// again says the error passes (read again), or else the worker ends (a
// closed socket: quietly).
func (u *udpServer) afterRead(err error) (again, ok bool) {
	idle := u.idle.Add(-1)
	if err != nil {
		if transientRead(err) {
			return true, false
		}
		if !errors.Is(err, net.ErrClosed) {
			u.errOnce.Do(func() { u.err = err })
		}
		return false, false
	}
	if idle == 0 && u.workers.Load() < udpMaxWorkers {
		u.spawn()
	}
	return false, true
}

// handle is miekg/dns's serveDNS for UDP with labd's accept function: no
// answer to a packet without a whole header or to a response (an answer
// can be used for amplification), FORMERR with the header only to one
// that does not parse.
func (u *udpServer) handle(w *udpWriter, m []byte) {
	if !u.tryCached(w, m) {
		u.slow(w, m)
	}
}

// tryCached answers m from the packed answers if it can, or says it is
// for the slow path (which honours w.verdict and w.rot); a packet that gets
// no answer at all counts as done.
func (u *udpServer) tryCached(w *udpWriter, m []byte) (done bool) {
	const headerLen = 12
	if len(m) < headerLen || m[2]&0x80 != 0 {
		return true
	}
	w.verdict, w.rot = noVerdict, 0
	if u.cached != nil {
		done, w.verdict, w.rot = u.cached(w, m)
	}
	return done
}

// slow parses m and answers it through ServeDNS.
func (u *udpServer) slow(w *udpWriter, m []byte) {
	req := new(dns.Msg)
	if err := req.Unpack(m); err != nil {
		req.SetRcodeFormatError(req)
		req.Zero = false
		req.Ns, req.Answer, req.Extra = nil, nil, nil
		w.WriteMsg(req)
		return
	}
	w.wire = m
	u.handler.ServeDNS(w, req)
	w.wire = nil
}

// udpWriter is the dns.ResponseWriter of one query at a time.
type udpWriter struct {
	u      *udpServer
	raddr  netip.AddrPort
	remote *net.UDPAddr
	rstr   string
	// names are the last client addresses formatted (addrStrings).
	names    [4]addrName
	nextName int
	reply    []byte // control message setting the answer's source address
	wire     []byte // the query as it arrived, valid during ServeDNS
	// verdict and rot: the rate limiter's verdict (noVerdict: not asked)
	// and the RRset rotation step (0: none drawn) that the packed answers'
	// lookup already took for this query.
	verdict verdict
	rot     int
	// batch, if not nil, collects the packed answers for one sendmmsg
	// (udpbatch_linux.go).
	batch *[]udpOut
	msg   int // the query's message in the batch
}

// noter is what a batched answer needs of its session.
type noter interface {
	Notef(format string, args ...any)
}

// udpOut is one packed answer waiting for the batch's sendmmsg, to the
// sender of the batch's message msg (udpbatch_linux.go).
type udpOut struct {
	b, oob []byte
	msg    int
	sess   noter
}

// sendPacked sends a packed answer (b is not changed afterwards), at once
// or with the worker's batch.
func (w *udpWriter) sendPacked(b []byte, sess noter) {
	if w.batch != nil {
		*w.batch = append(*w.batch, udpOut{b: b, oob: w.reply, msg: w.msg, sess: sess})
		return
	}
	if _, err := w.Write(b); err != nil {
		sess.Notef("write failed: %v", err)
	}
}

func (w *udpWriter) reset(raddr netip.AddrPort, oob []byte) {
	w.raddr = raddr
	w.remote = nil
	w.rstr = ""
	w.reply = nil
	if len(oob) > 0 {
		w.reply = correctSource(oob)
	}
}

func (w *udpWriter) LocalAddr() net.Addr { return w.u.conn.LocalAddr() }

// RemoteAddr is made at first use: the packed answers do not need it.
func (w *udpWriter) RemoteAddr() net.Addr {
	if w.remote == nil {
		w.remote = net.UDPAddrFromAddrPort(w.client())
	}
	return w.remote
}

// client is the client's address, an IPv4 one not mapped into IPv6.
func (w *udpWriter) client() netip.AddrPort {
	return netip.AddrPortFrom(w.raddr.Addr().Unmap(), w.raddr.Port())
}

type addrName struct {
	addr netip.AddrPort
	text string
}

// addrStrings spares the handler formatting the same addresses again.
func (w *udpWriter) addrStrings() (local, remote string) {
	if w.rstr == "" {
		// A load generator (or a class behind one NAT) asks from a few
		// addresses: the last ones formatted are kept.
		for _, n := range w.names {
			if n.addr == w.raddr && n.text != "" {
				w.rstr = n.text
				return w.u.local, w.rstr
			}
		}
		w.rstr = w.client().String()
		w.names[w.nextName%len(w.names)] = addrName{w.raddr, w.rstr}
		w.nextName++
	}
	return w.u.local, w.rstr
}

// queryWire is the query as the client sent it, for the transcript.
func (w *udpWriter) queryWire() []byte { return w.wire }

func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *udpWriter) Write(b []byte) (int, error) {
	n, _, err := w.u.conn.WriteMsgUDPAddrPort(b, w.reply, w.raddr)
	return n, err
}

func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return nil }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}

// correctSource is miekg/dns's: the control message that makes the answer
// leave from the address the query was sent to.
func correctSource(oob []byte) []byte {
	var dst net.IP
	if cm6 := new(ipv6.ControlMessage); cm6.Parse(oob) == nil && cm6.Dst != nil {
		dst = cm6.Dst
	} else if cm4 := new(ipv4.ControlMessage); cm4.Parse(oob) == nil && cm4.Dst != nil {
		dst = cm4.Dst
	}
	if dst == nil {
		return nil
	}
	if dst.To4() == nil {
		return (&ipv6.ControlMessage{Src: dst}).Marshal()
	}
	return (&ipv4.ControlMessage{Src: dst}).Marshal()
}

// transientRead says whether a read error on the UDP socket passes: an
// interrupted call, an ICMP error a previous answer brought back, or the
// kernel short of buffers (which the read waits out a little). What
// net.Error.Temporary used to say, without its deprecated guesswork.
func transientRead(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	switch {
	case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM),
		errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		time.Sleep(10 * time.Millisecond)
		return true
	}
	return false
}

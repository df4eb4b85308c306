// Package tftp is labd's TFTP server (RFC 1350) on UDP 69, built on
// github.com/pin/tftp/v3: reads from the TFTP root (pub/ by default),
// writes only into the upload directory when enabled, with the blksize
// (RFC 2348) and tsize (RFC 2349) options, netascii conversion, proper
// ERROR codes, crash-safe uploads, and every transfer in the session
// registry.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pintftp "github.com/pin/tftp/v3"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"labd/config"
	"labd/internal/fsroot"
	"labd/internal/service"
	"labd/internal/sessions"
)

// Service is the TFTP server: one pin/tftp Server per listen address.
type Service struct {
	cfg       config.TFTP
	deps      service.Deps
	log       *slog.Logger
	root      string
	uploadDir string // cleaned, relative to root; "." is the whole root

	mu        sync.Mutex
	conns     []*net.UDPConn
	servers   []*pintftp.Server
	active    map[*transfer]struct{}
	stopping  bool
	serveDone chan struct{}

	killed atomic.Bool
}

// New builds the service from deps.Config.TFTP.
func New(deps service.Deps) (service.Service, error) {
	cfg := deps.Config.TFTP
	root := cfg.Root
	if root == "" {
		root = deps.Layout.Pub()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("tftp.root %s: %w", root, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("tftp.root %s is not a directory", abs)
	}
	s := &Service{
		cfg:       cfg,
		deps:      deps,
		log:       deps.Logger,
		root:      abs,
		uploadDir: filepath.Clean(cfg.UploadDir),
		active:    map[*transfer]struct{}{},
	}
	if cfg.AllowWrite && s.uploadDir != "." {
		r, err := os.OpenRoot(abs)
		if err != nil {
			return nil, fmt.Errorf("tftp.root %s: %w", abs, err)
		}
		err = r.MkdirAll(s.uploadDir, 0o755)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("tftp.upload_dir %s in %s: %w", s.uploadDir, abs, err)
		}
	}
	return s, nil
}

// Name implements service.Service.
func (s *Service) Name() string { return "tftp" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	var eps []service.Endpoint
	for _, addr := range s.cfg.Listen {
		pc, err := service.ListenUDP("tftp", addr)
		if err != nil {
			s.closeConns()
			return nil, err
		}
		uc, ok := pc.(*net.UDPConn)
		if !ok {
			pc.Close()
			s.closeConns()
			return nil, fmt.Errorf("tftp: %s: not a UDP socket", addr)
		}
		enablePacketInfo(uc)
		s.mu.Lock()
		s.conns = append(s.conns, uc)
		s.mu.Unlock()
		eps = append(eps, service.Endpoint{Service: "tftp", Network: "udp", Addr: uc.LocalAddr().String(), State: "listening"})
	}
	return eps, nil
}

// enablePacketInfo asks the kernel, from the bind on, for each request's
// destination address and interface. pin/tftp sets the same option only
// when Serve starts: a request queued before that arrives without it, and
// the library then caps blksize at 512 and answers from the wildcard
// address. (Same choice of IPv4 or IPv6 as the library's Serve.)
func enablePacketInfo(uc *net.UDPConn) {
	ua, _ := uc.LocalAddr().(*net.UDPAddr)
	if ua == nil {
		return
	}
	if ua.IP.To4() != nil {
		_ = ipv4.NewPacketConn(uc).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	} else {
		_ = ipv6.NewPacketConn(uc).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	}
}

func (s *Service) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *Service) newServer() *pintftp.Server {
	srv := pintftp.NewServer(s.handleRead, s.handleWrite)
	srv.SetTimeout(s.cfg.Timeout.D())
	srv.SetRetries(s.cfg.Retries)
	srv.SetBlockSize(s.cfg.MaxBlockSize)
	// Retransmit as soon as the timeout expires (the default adds a
	// random sleep of up to 1 s on top).
	srv.SetBackoff(func(int) time.Duration { return 0 })
	srv.SetHook(hook{s.log, s.deps.Sessions})
	return srv
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	conns := append([]*net.UDPConn(nil), s.conns...)
	servers := make([]*pintftp.Server, len(conns))
	for i := range conns {
		servers[i] = s.newServer()
	}
	s.servers = servers
	s.serveDone = make(chan struct{})
	s.mu.Unlock()
	defer close(s.serveDone)

	errc := make(chan error, len(conns))
	for i, c := range conns {
		go func() { errc <- servers[i].Serve(c) }()
	}
	stop := context.AfterFunc(ctx, func() { s.stopAccepting() })
	defer stop()
	var first error
	for range conns {
		err := <-errc
		if err != nil && ctx.Err() == nil && first == nil {
			first = fmt.Errorf("tftp: %w", err)
			s.stopAccepting()
		}
	}
	return first
}

// stopAccepting closes the request sockets and tells each server loop to
// return; transfers in progress go on with their own sockets.
func (s *Service) stopAccepting() {
	s.mu.Lock()
	s.stopping = true
	servers := append([]*pintftp.Server(nil), s.servers...)
	s.mu.Unlock()
	s.closeConns()
	for _, srv := range servers {
		// Shutdown also waits for the transfers: don't block here.
		go srv.Shutdown()
	}
}

// Shutdown implements service.Service: transfers in progress finish until
// ctx ends; then they are aborted (ERROR sent, sockets closed).
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	s.mu.Lock()
	servers := append([]*pintftp.Server(nil), s.servers...)
	serveDone := s.serveDone
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		if serveDone != nil {
			<-serveDone
		}
		for _, srv := range servers {
			srv.Shutdown()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.killed.Store(true)
	s.mu.Lock()
	for t := range s.active {
		t.kill()
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return ctx.Err()
}

// hook logs what the library reports outside any handler (unparsable
// requests); transfers are logged by labd's handlers.
type hook struct {
	log *slog.Logger
	reg *sessions.Registry
}

func (h hook) OnSuccess(st pintftp.TransferStats) { h.retransmissions(st) }

func (h hook) OnFailure(st pintftp.TransferStats, err error) {
	if st.Filename == "" && err != nil {
		h.log.Debug("tftp: bad datagram ignored", "err", err)
	}
	h.retransmissions(st)
}

// retransmissions notes on the transfer's session how many DATA packets
// labd sent again after a timeout (a lossy link, or the loss fault): the
// library counts them, labd's handlers cannot see them.
func (h hook) retransmissions(st pintftp.TransferStats) {
	extra := st.DatagramsSent - st.DatagramsAcked
	if h.reg == nil || extra <= 0 || st.RemoteAddr == nil {
		return
	}
	remote := net.JoinHostPort(st.RemoteAddr.String(), strconv.Itoa(st.Tid))
	list := h.reg.List()
	for i := len(list) - 1; i >= 0; i-- {
		if in := list[i]; in.Proto == "tftp" && in.Remote == remote {
			if s, ok := h.reg.Get(in.ID); ok {
				s.Notef("%d DATA packets sent for %d acknowledged: %d sent again after a timeout", st.DatagramsSent, st.DatagramsAcked, extra)
			}
			return
		}
	}
}

// transfer is one RRQ or WRQ in progress.
type transfer struct {
	s         *Service
	sess      *sessions.Session
	log       *slog.Logger
	in        internals
	conn      *net.UDPConn // the server TID socket; nil if unavailable
	remote    net.UDPAddr
	file      string // as the client sent it
	dir       string // "read" or "write"
	mode      string // as the client sent it
	netascii  bool
	requested map[string]string
	wire      atomic.Int64              // payload bytes on the wire
	disk      int64                     // file bytes read or written
	sent      atomic.Pointer[tftpError] // the ERROR sent, if any
	started   bool                      // the library took over (options negotiated)
	wl        wireLog                   // the datagrams, for the pcapng export
	acked     map[string]string         // options labd acknowledged itself (sendSmall)
	finished  bool
}

// tftpError is a failure with its RFC 1350 code.
type tftpError struct {
	code uint16
	msg  string
}

func (e *tftpError) Error() string { return e.msg }

func errorf(code uint16, format string, args ...any) *tftpError {
	return &tftpError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Service) begin(x any, filename, dir string) *transfer {
	t := &transfer{s: s, in: inspect(x), file: filename, dir: dir}
	switch v := x.(type) {
	case pintftp.OutgoingTransfer:
		t.remote = v.RemoteAddr()
	case pintftp.IncomingTransfer:
		t.remote = v.RemoteAddr()
	}
	t.conn = t.in.conn()
	t.mode, _ = t.in.mode()
	t.requested = t.in.options()
	local := ""
	if t.conn != nil {
		local = t.conn.LocalAddr().String()
	}
	if ri, ok := x.(pintftp.RequestPacketInfo); ok && ri.LocalIP() != nil && t.conn != nil {
		if ua, ok := t.conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.IsUnspecified() {
			local = net.JoinHostPort(ri.LocalIP().String(), strconv.Itoa(ua.Port))
		}
	}
	if s.cfg.MaxBlockSize <= 512 && t.requested["blksize"] != "" {
		t.in.dropOption("blksize")
	}
	t.sess = s.deps.Sessions.Open("tftp", "udp", local, t.remote.String())
	t.sess.SetAttr("file", filename)
	t.applyLoss()
	t.wl = wireLog{t: t, reqLocal: s.requestLocal(t, local)}
	op := uint16(opRRQ)
	if dir == "write" {
		op = opWRQ
	}
	t.wl.request(op, filename, t.mode, t.requested)
	t.sess.SetAttr("direction", dir)
	t.sess.SetAttr("mode", t.mode)
	if len(t.requested) > 0 {
		t.sess.SetAttr("options_requested", formatOptions(t.requested))
	}
	t.sess.Notef("%s request for %q, mode %q, options %s", strings.ToUpper(dir[:1])+dir[1:], filename, t.mode, formatOptions(t.requested))
	t.log = s.log.With("remote", t.remote.String(), "file", filename, "direction", dir)
	s.mu.Lock()
	s.active[t] = struct{}{}
	s.mu.Unlock()
	return t
}

// checkMode accepts netascii and octet in any letter case, and makes the
// library send bytes as they are: labd converts netascii itself.
func (t *transfer) checkMode() error {
	switch strings.ToLower(t.mode) {
	case "octet":
		return nil
	case "netascii":
		// The library converts exact "netascii" only, and badly: take
		// over. Should that fail, it still converts that spelling.
		if t.mode == "netascii" && !t.in.setMode("octet") {
			return nil
		}
		t.netascii = true
		return nil
	case "mail":
		return errorf(errIllegal, "mail mode is obsolete and not supported: use octet (binary) or netascii (ascii)")
	}
	return errorf(errIllegal, "unknown transfer mode %q: use octet (binary) or netascii (ascii)", t.mode)
}

// fail sends an ERROR with the right code on the transfer's socket and
// closes it, so that the library's own ERROR (always code 1) goes nowhere.
// Without the socket the library sends its code-1 ERROR with this text.
func (t *transfer) fail(err error) error {
	te := t.sendError(err)
	t.finish(fmt.Sprintf("error %d: %s", te.code, te.msg))
	return te
}

// sendError sends the ERROR packet for err (once) and closes the socket.
func (t *transfer) sendError(err error) *tftpError {
	var te *tftpError
	if !errors.As(err, &te) {
		te = &tftpError{code: errNotDefined, msg: err.Error()}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			te.msg = "timeout: the client stopped answering"
		}
	}
	if !t.sent.CompareAndSwap(nil, te) {
		// Already sent (by a writer, or by kill at shutdown): that one
		// is what the client saw.
		return t.sent.Load()
	}
	if t.conn != nil {
		pkt := errorPacket(te.code, te.msg)
		_, _ = t.conn.WriteToUDP(pkt, &t.remote)
		t.conn.Close()
		t.sess.Datagram(sessions.FromServer, fmt.Appendf(nil, "ERROR %d: %s", te.code, te.msg), pkt, "")
	}
	t.sess.Notef("ERROR %d: %s", te.code, te.msg)
	return te
}

// kill aborts a transfer at shutdown.
func (t *transfer) kill() {
	t.sendError(errorf(errNotDefined, "labd is shutting down"))
}

func (t *transfer) finish(result string) {
	if t.finished {
		return
	}
	t.finished = true
	t.s.mu.Lock()
	delete(t.s.active, t)
	t.s.mu.Unlock()
	acked := t.acked
	if t.started && acked == nil {
		acked = t.in.options()
	}
	t.sess.SetAttr("options", formatOptions(acked))
	blk := 512
	if v, err := strconv.Atoi(acked["blksize"]); err == nil && v > 0 {
		blk = v
	}
	wire := t.wire.Load()
	blocks := wire / int64(blk)
	if result == "ok" {
		blocks++ // the last, short (possibly empty) block
	}
	t.sess.SetAttr("blocks", strconv.FormatInt(blocks, 10))
	t.sess.SetAttr("bytes", strconv.FormatInt(t.disk, 10))
	t.sess.SetAttr("wire_bytes", strconv.FormatInt(wire, 10))
	t.wl.done(result == "ok")
	t.sess.Close(result)
	lvl := slog.LevelInfo
	if result != "ok" {
		lvl = slog.LevelWarn
	}
	t.log.Log(context.Background(), lvl, "tftp transfer", "mode", t.mode, "options", formatOptions(acked), "bytes", t.disk, "blocks", blocks, "result", result)
}

// guard is deferred by the handlers after service.Recover: when the
// handler panicked (finished still false), it aborts the transfer.
func (t *transfer) guard(errp *error) {
	if !t.finished {
		*errp = t.fail(errorf(errNotDefined, "internal error in labd"))
	}
}

func formatOptions(o map[string]string) string {
	if len(o) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	// Stable order for logs and tests.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + o[k])
	}
	return b.String()
}

// cleanName turns the raw filename of a request into a path relative to
// the root, or refuses it.
func cleanName(raw string) (string, error) {
	name := strings.TrimPrefix(raw, "/")
	if name == "" {
		return "", errorf(errAccess, "empty file name")
	}
	if !filepath.IsLocal(name) {
		return "", errorf(errAccess, "access violation: %q leaves the TFTP root", raw)
	}
	return filepath.Clean(name), nil
}

// fsError maps a filesystem error to a TFTP error.
func fsError(err error, name string) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errorf(errNotFound, "file not found: %s", name)
	case errors.Is(err, os.ErrPermission):
		return errorf(errAccess, "access violation: permission denied: %s", name)
	case errors.Is(err, os.ErrExist):
		return errorf(errExists, "file already exists: %s", name)
	case isNoSpace(err):
		return errorf(errDiskFull, "disk full or allocation exceeded")
	}
	// os.Root refused a symlink out or "..".
	if fsroot.IsEscape(err) {
		return errorf(errAccess, "access violation: %s leaves the TFTP root", name)
	}
	return errorf(errAccess, "access violation: %s: %v", name, unwrapPath(err))
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// countingReader counts what goes out and stops at shutdown.
type countingReader struct {
	r io.Reader
	t *transfer
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	if c.t.s.killed.Load() {
		return 0, errorf(errNotDefined, "labd is shutting down")
	}
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// handleRead serves an RRQ.
func (s *Service) handleRead(filename string, rf io.ReaderFrom) (err error) {
	defer service.Recover(s.log, "tftp", "file", filename)
	t := s.begin(rf, filename, "read")
	defer t.guard(&err)
	if err := t.checkMode(); err != nil {
		return t.fail(err)
	}
	name, err := cleanName(filename)
	if err != nil {
		return t.fail(err)
	}
	root, err := os.OpenRoot(s.root)
	if err != nil {
		return t.fail(errorf(errNotDefined, "TFTP root unavailable"))
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return t.fail(fsError(err, filename))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return t.fail(fsError(err, filename))
	}
	if !fi.Mode().IsRegular() {
		return t.fail(errorf(errAccess, "access violation: %s is not a regular file", filename))
	}
	var r io.Reader = f
	size := fi.Size()
	if strings.EqualFold(t.mode, "netascii") {
		// tsize counts the bytes on the wire, after conversion.
		if size, err = netasciiSize(f); err != nil {
			return t.fail(fsError(err, filename))
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return t.fail(fsError(err, filename))
		}
	}
	if t.netascii {
		r = newNetasciiEncoder(countingReader{f, t, &t.disk})
	} else {
		r = countingReader{f, t, &t.disk}
	}
	if ot, ok := rf.(pintftp.OutgoingTransfer); ok {
		// tsize (RFC 2349): curl sends tsize=0 and wants the real size.
		ot.SetSize(size)
	}
	var wr io.Reader = &wireReader{r: r, t: t}
	if f, ok := s.deps.Faults.Match("tftp", "delay", "", t.remote.String()); ok {
		d := time.Duration(f.Int("ms")) * time.Millisecond
		t.sess.Notef("fault %d (%s): every DATA packet held back %s", f.ID, f, d)
		wr = &delayReader{r: wr, d: d}
	}
	if blk := t.negotiateBlksize(); blk > 0 {
		t.started = true
		if err := t.sendSmall(wr, blk, size); err != nil {
			return t.fail(err)
		}
		t.finish("ok")
		return nil
	}
	wr, dup := t.applyDuplicate(wr)
	t.started = true
	_, err = rf.ReadFrom(wr)
	if dup != nil && dup.sent > 0 {
		t.sess.Notef("%d DATA blocks were sent twice", dup.sent)
	}
	if err != nil {
		return t.fail(err)
	}
	t.finish("ok")
	return nil
}

// delayReader holds back each block the library reads (one DATA packet).
type delayReader struct {
	r io.Reader
	d time.Duration
}

func (d *delayReader) Read(p []byte) (int, error) {
	time.Sleep(d.d)
	return d.r.Read(p)
}

// wireReader counts the payload handed to the library.
type wireReader struct {
	r io.Reader
	t *transfer
}

func (w *wireReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.t.wire.Add(int64(n))
		w.t.sess.AddBytes(0, int64(n))
	}
	if n > 0 || err == io.EOF {
		w.t.wl.read(p[:n], err == io.EOF)
	}
	return n, err
}

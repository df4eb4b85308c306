package telnet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"labd/internal/shell"
)

// Telnet command bytes (RFC 854).
const (
	cmdSE   = 240
	cmdNOP  = 241
	cmdDM   = 242
	cmdBRK  = 243
	cmdIP   = 244
	cmdAO   = 245
	cmdAYT  = 246
	cmdEC   = 247
	cmdEL   = 248
	cmdGA   = 249
	cmdSB   = 250
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255
)

// Options labd knows.
const (
	optBinary = 0
	optEcho   = 1  // RFC 857
	optSGA    = 3  // RFC 858
	optTTYPE  = 24 // RFC 1091
	optNAWS   = 31 // RFC 1073
)

// Subnegotiation codes of TTYPE.
const (
	ttypeIS   = 0
	ttypeSEND = 1
)

// Q-method states of one side of one option (RFC 1143). The queue bit is
// not needed: labd never changes its mind while a request is pending.
type qstate uint8

const (
	qNo qstate = iota
	qYes
	qWantNo
	qWantYes
)

// maxSB bounds a subnegotiation's payload; the rest is dropped.
const maxSB = 64

// parser states
const (
	stData = iota
	stIAC
	stOpt // after WILL/WONT/DO/DONT: the option byte
	stSB  // after SB: the option byte
	stSBData
	stSBIAC
)

// errIdle is returned by Read when the client sent nothing for the idle
// timeout.
var errIdle = errors.New("idle timeout")

// nvt is the Network Virtual Terminal over one connection: Read returns the
// data the client typed with every Telnet command removed and acted on;
// Write escapes IAC and turns LF into CR LF.
type nvt struct {
	conn net.Conn
	idle time.Duration

	wmu sync.Mutex // serialises writes: the shell and negotiation replies

	// parser state, used by the reading goroutine only
	state   int
	verb    byte
	sbOpt   byte
	sb      []byte
	sbOver  bool
	lastCR  bool
	raw     []byte
	pending []byte // data read ahead (during the negotiation wait)

	mu         sync.Mutex // guards what other goroutines read below
	us, him    [256]qstate
	negotiated bool // the client sent at least one Telnet command
	ttype      string
	width      int
	height     int
	ttypeAsked bool

	resize   chan shell.WindowSize
	onChange func(key, value string)
}

func newNVT(c net.Conn, idle time.Duration) *nvt {
	return &nvt{conn: c, idle: idle, raw: make([]byte, 1024), resize: make(chan shell.WindowSize, 1)}
}

// start opens the negotiation: inetutils telnet on a port other than 23
// waits for the server to begin.
func (n *nvt) start() error {
	n.mu.Lock()
	n.us[optEcho] = qWantYes
	n.us[optSGA] = qWantYes
	n.him[optNAWS] = qWantYes
	n.him[optTTYPE] = qWantYes
	n.mu.Unlock()
	return n.writeRaw([]byte{
		cmdIAC, cmdWILL, optEcho,
		cmdIAC, cmdWILL, optSGA,
		cmdIAC, cmdDO, optNAWS,
		cmdIAC, cmdDO, optTTYPE,
	})
}

// waitNegotiation reads until the client answered every option (and sent
// its terminal type) or d passed;
// data typed meanwhile is kept for later reads.
func (n *nvt) waitNegotiation(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		settled := n.us[optEcho] != qWantYes && n.us[optSGA] != qWantYes &&
			n.him[optNAWS] != qWantYes && n.him[optTTYPE] != qWantYes
		ttypePending := n.him[optTTYPE] == qYes && n.ttype == ""
		n.mu.Unlock()
		if settled && !ttypePending {
			break
		}
		_ = n.conn.SetReadDeadline(deadline)
		k, err := n.conn.Read(n.raw)
		if k > 0 {
			n.pending = n.parse(n.raw[:k], n.pending)
		}
		if err != nil {
			break
		}
	}
	_ = n.conn.SetReadDeadline(time.Time{})
}

// echoing says whether the server echoes (the client agreed to WILL ECHO).
func (n *nvt) echoing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.us[optEcho] == qYes
}

func (n *nvt) size() (int, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.width, n.height
}

// Read returns data bytes only.
func (n *nvt) Read(p []byte) (int, error) {
	for len(n.pending) == 0 {
		if n.idle > 0 {
			_ = n.conn.SetReadDeadline(time.Now().Add(n.idle))
		}
		k, err := n.conn.Read(n.raw)
		if k > 0 {
			n.pending = n.parse(n.raw[:k], n.pending)
		}
		if err != nil {
			if len(n.pending) > 0 {
				break
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, errIdle
			}
			return 0, err
		}
	}
	k := copy(p, n.pending)
	n.pending = n.pending[k:]
	return k, nil
}

// parse runs the state machine over raw bytes and appends data to out.
func (n *nvt) parse(in, out []byte) []byte {
	for _, b := range in {
		switch n.state {
		case stData:
			if b == cmdIAC {
				n.state = stIAC
				continue
			}
			out = n.data(b, out)
		case stIAC:
			n.state = stData
			switch b {
			case cmdIAC:
				out = n.data(255, out)
			case cmdWILL, cmdWONT, cmdDO, cmdDONT:
				n.verb = b
				n.state = stOpt
			case cmdSB:
				n.state = stSB
			case cmdIP, cmdBRK:
				out = append(out, 3) // Ctrl-C
			case cmdEC:
				out = append(out, 127)
			case cmdEL:
				out = append(out, 21) // Ctrl-U
			case cmdAYT:
				_ = n.writeRaw([]byte("\r\n[labd: yes, I am here]\r\n"))
			default: // NOP, DM, AO, GA, SE out of place
			}
			n.setNegotiated()
		case stOpt:
			n.state = stData
			n.option(n.verb, b)
		case stSB:
			n.sbOpt = b
			n.sb = n.sb[:0]
			n.sbOver = false
			n.state = stSBData
		case stSBData:
			if b == cmdIAC {
				n.state = stSBIAC
				continue
			}
			n.sbByte(b)
		case stSBIAC:
			switch b {
			case cmdSE:
				n.state = stData
				n.subneg()
			case cmdIAC:
				n.state = stSBData
				n.sbByte(255)
			default:
				// An IAC command inside SB: the SB was not terminated
				// (RFC 855 says SE must follow); end it and handle the
				// command as if outside.
				n.state = stIAC
				n.subneg()
				out = n.parse([]byte{b}, out)
			}
		}
	}
	return out
}

func (n *nvt) sbByte(b byte) {
	if len(n.sb) >= maxSB {
		n.sbOver = true
		return
	}
	n.sb = append(n.sb, b)
}

// data normalises line ends: CR LF, CR NUL and bare LF all become CR, which
// both the line editor and the line reader take as Enter.
func (n *nvt) data(b byte, out []byte) []byte {
	if n.lastCR {
		n.lastCR = false
		if b == '\n' || b == 0 {
			return out
		}
	}
	switch b {
	case '\r':
		n.lastCR = true
		return append(out, '\r')
	case '\n':
		return append(out, '\r')
	case 0:
		return out
	}
	return append(out, b)
}

func (n *nvt) setNegotiated() {
	n.mu.Lock()
	n.negotiated = true
	n.mu.Unlock()
}

// supportedUs are the options labd performs; supportedHim those it lets the
// client perform.
func supportedUs(opt byte) bool  { return opt == optEcho || opt == optSGA }
func supportedHim(opt byte) bool { return opt == optNAWS || opt == optTTYPE || opt == optSGA }

// option applies RFC 1143's Q method to one received request.
func (n *nvt) option(verb, opt byte) {
	var reply []byte
	askTTYPE := false
	n.mu.Lock()
	n.negotiated = true
	switch verb {
	case cmdWILL:
		switch n.him[opt] {
		case qNo:
			if supportedHim(opt) {
				n.him[opt] = qYes
				reply = []byte{cmdIAC, cmdDO, opt}
			} else {
				reply = []byte{cmdIAC, cmdDONT, opt}
			}
		case qWantNo:
			n.him[opt] = qNo // DONT answered by WILL: an error, give up
		case qWantYes:
			n.him[opt] = qYes
		}
		if opt == optTTYPE && n.him[opt] == qYes && !n.ttypeAsked {
			n.ttypeAsked = true
			askTTYPE = true
		}
	case cmdWONT:
		switch n.him[opt] {
		case qYes:
			n.him[opt] = qNo
			reply = []byte{cmdIAC, cmdDONT, opt}
		case qWantNo, qWantYes:
			n.him[opt] = qNo
		}
	case cmdDO:
		switch n.us[opt] {
		case qNo:
			if supportedUs(opt) {
				n.us[opt] = qYes
				reply = []byte{cmdIAC, cmdWILL, opt}
			} else {
				reply = []byte{cmdIAC, cmdWONT, opt}
			}
		case qWantNo:
			n.us[opt] = qNo
		case qWantYes:
			n.us[opt] = qYes
		}
	case cmdDONT:
		switch n.us[opt] {
		case qYes:
			n.us[opt] = qNo
			reply = []byte{cmdIAC, cmdWONT, opt}
		case qWantNo, qWantYes:
			n.us[opt] = qNo
		}
	}
	n.mu.Unlock()
	if reply != nil {
		_ = n.writeRaw(reply)
	}
	if askTTYPE {
		_ = n.writeRaw([]byte{cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE})
	}
}

// subneg handles a complete SB ... SE.
func (n *nvt) subneg() {
	if n.sbOver {
		return
	}
	switch n.sbOpt {
	case optNAWS:
		if len(n.sb) != 4 {
			return
		}
		w := int(n.sb[0])<<8 | int(n.sb[1])
		h := int(n.sb[2])<<8 | int(n.sb[3])
		if w == 0 || h == 0 {
			return // "unknown" size
		}
		n.mu.Lock()
		n.width, n.height = w, h
		n.mu.Unlock()
		ws := shell.WindowSize{Width: w, Height: h}
		// Keep only the latest size: drop a stale one nobody read.
		select {
		case <-n.resize:
		default:
		}
		select {
		case n.resize <- ws:
		default:
		}
		if n.onChange != nil {
			n.onChange("naws", itoa(w)+"x"+itoa(h))
		}
	case optTTYPE:
		if len(n.sb) < 1 || n.sb[0] != ttypeIS {
			return
		}
		name := make([]byte, 0, len(n.sb)-1)
		for _, c := range n.sb[1:] {
			if c >= 0x20 && c < 0x7f {
				name = append(name, c)
			}
		}
		n.mu.Lock()
		n.ttype = string(name)
		n.mu.Unlock()
		if n.onChange != nil {
			n.onChange("ttype", string(name))
		}
	}
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for v > 0 && i > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func (n *nvt) writeRaw(b []byte) error {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	_ = n.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := n.conn.Write(b)
	return err
}

// Write sends data as NVT: IAC doubled, LF as CR LF, a bare CR as CR NUL.
func (n *nvt) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+len(p)/8+4)
	for i, b := range p {
		switch b {
		case cmdIAC:
			out = append(out, cmdIAC, cmdIAC)
		case '\n':
			if i == 0 || p[i-1] != '\r' {
				out = append(out, '\r')
			}
			out = append(out, '\n')
		case '\r':
			out = append(out, '\r')
			if i+1 >= len(p) || p[i+1] != '\n' {
				out = append(out, 0)
			}
		default:
			out = append(out, b)
		}
	}
	if err := n.writeRaw(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

var _ io.ReadWriter = (*nvt)(nil)

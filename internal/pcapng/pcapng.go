// Package pcapng writes (and, for tests and checks, reads) the pcapng
// capture format that Wireshark and tshark open natively
// (draft-ietf-opsawg-pcapng). labd has no capture of its own traffic: it
// rebuilds one from its session recordings, so only the writing side and
// the packet builders (packet.go) are needed; the reader exists so that
// the writer's output can be checked without an external tool.
package pcapng

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Block types used by labd.
const (
	BlockSHB = 0x0A0D0D0A
	BlockIDB = 0x00000001
	BlockEPB = 0x00000006
	BlockDSB = 0x0000000A
)

// LinkTypeRaw is LINKTYPE_RAW: each packet starts with an IPv4 or IPv6
// header, so no made-up Ethernet addresses are needed.
const LinkTypeRaw = 101

// SecretsTLSKeyLog is the Decryption Secrets Block type for an NSS key log
// ("TLSK").
const SecretsTLSKeyLog = 0x544c534b

const (
	byteOrderMagic = 0x1A2B3C4D
	optEnd         = 0
	optComment     = 1
	optSHBUserAppl = 4
	optIfTsResol   = 9
	// maxBlock bounds what the reader accepts, so a hostile file cannot
	// make it allocate gigabytes.
	maxBlock = 16 << 20
)

var le = binary.LittleEndian

// Writer writes one section with one raw-IP interface whose timestamps
// are in nanoseconds.
type Writer struct {
	w   *bufio.Writer
	err error
}

// NewWriter writes the section header (with comment, if any) and the
// interface description.
func NewWriter(w io.Writer, app, comment string) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriter(w)}
	var body []byte
	body = le.AppendUint32(body, byteOrderMagic)
	body = le.AppendUint16(body, 1) // major
	body = le.AppendUint16(body, 0) // minor
	body = le.AppendUint64(body, ^uint64(0))
	var opts []byte
	if comment != "" {
		opts = appendOpt(opts, optComment, []byte(comment))
	}
	if app != "" {
		opts = appendOpt(opts, optSHBUserAppl, []byte(app))
	}
	pw.block(BlockSHB, body, opts)

	body = le.AppendUint16(nil, LinkTypeRaw)
	body = le.AppendUint16(body, 0)
	body = le.AppendUint32(body, 0) // snaplen: no limit
	pw.block(BlockIDB, body, appendOpt(nil, optIfTsResol, []byte{9}))
	return pw, pw.err
}

// WriteSecrets writes a Decryption Secrets Block. Wireshark uses secrets
// for the packets that follow them, so call it before WritePacket.
func (w *Writer) WriteSecrets(kind uint32, data []byte) error {
	body := le.AppendUint32(nil, kind)
	body = le.AppendUint32(body, uint32(len(data)))
	body = append(body, data...)
	body = pad(body)
	w.block(BlockDSB, body, nil)
	return w.err
}

// WritePacket writes an Enhanced Packet Block on interface 0.
func (w *Writer) WritePacket(t time.Time, data []byte, comment string) error {
	ns := uint64(t.UnixNano())
	body := le.AppendUint32(nil, 0)
	body = le.AppendUint32(body, uint32(ns>>32))
	body = le.AppendUint32(body, uint32(ns))
	body = le.AppendUint32(body, uint32(len(data)))
	body = le.AppendUint32(body, uint32(len(data)))
	body = append(body, data...)
	body = pad(body)
	var opts []byte
	if comment != "" {
		opts = appendOpt(opts, optComment, []byte(comment))
	}
	w.block(BlockEPB, body, opts)
	return w.err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	return w.w.Flush()
}

func (w *Writer) block(typ uint32, body, opts []byte) {
	if w.err != nil {
		return
	}
	if len(opts) > 0 {
		opts = le.AppendUint16(opts, optEnd)
		opts = le.AppendUint16(opts, 0)
	}
	total := uint32(12 + len(body) + len(opts))
	var hdr [8]byte
	le.PutUint32(hdr[0:], typ)
	le.PutUint32(hdr[4:], total)
	_, w.err = w.w.Write(hdr[:])
	if w.err == nil {
		_, w.err = w.w.Write(body)
	}
	if w.err == nil {
		_, w.err = w.w.Write(opts)
	}
	if w.err == nil {
		_, w.err = w.w.Write(hdr[4:8])
	}
	if w.err != nil {
		w.err = fmt.Errorf("write pcapng: %w", w.err)
	}
}

func appendOpt(b []byte, code uint16, v []byte) []byte {
	if len(v) > 0xffff {
		v = v[:0xffff]
	}
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return pad(b)
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Block is one block read back.
type Block struct {
	Type uint32
	Body []byte // between the length fields, options included
}

// Packet is an Enhanced Packet Block read back.
type Packet struct {
	Time    time.Time
	Data    []byte
	Comment string
}

// File is what Read found.
type File struct {
	Comment  string
	LinkType uint16
	Secrets  []Secrets
	Packets  []Packet
}

// Secrets is a Decryption Secrets Block read back.
type Secrets struct {
	Type uint32
	Data []byte
}

var errFormat = errors.New("not a pcapng file labd can read")

// Read parses a little-endian pcapng section as labd writes it (one
// interface, nanosecond timestamps). It exists to check the writer; it
// rejects rather than guesses.
func Read(r io.Reader) (*File, error) {
	var f File
	first := true
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) && !first {
				return &f, nil
			}
			return nil, fmt.Errorf("%w: block header: %v", errFormat, err)
		}
		typ, total := le.Uint32(hdr[0:]), le.Uint32(hdr[4:])
		if total < 12 || total%4 != 0 || total > maxBlock {
			return nil, fmt.Errorf("%w: block length %d", errFormat, total)
		}
		if first != (typ == BlockSHB) {
			return nil, fmt.Errorf("%w: section header must come first, and only once", errFormat)
		}
		rest := make([]byte, total-8)
		if _, err := io.ReadFull(r, rest); err != nil {
			return nil, fmt.Errorf("%w: block body: %v", errFormat, err)
		}
		if le.Uint32(rest[len(rest)-4:]) != total {
			return nil, fmt.Errorf("%w: trailing block length differs", errFormat)
		}
		body := rest[:len(rest)-4]
		if err := f.add(typ, body, first); err != nil {
			return nil, err
		}
		first = false
	}
}

func (f *File) add(typ uint32, body []byte, first bool) error {
	switch typ {
	case BlockSHB:
		if len(body) < 16 || le.Uint32(body) != byteOrderMagic {
			return fmt.Errorf("%w: byte-order magic", errFormat)
		}
		opts, err := parseOpts(body[16:])
		if err != nil {
			return err
		}
		f.Comment = string(opts[optComment])
	case BlockIDB:
		if len(body) < 8 {
			return fmt.Errorf("%w: short interface block", errFormat)
		}
		f.LinkType = le.Uint16(body)
	case BlockDSB:
		if len(body) < 8 {
			return fmt.Errorf("%w: short secrets block", errFormat)
		}
		n := le.Uint32(body[4:])
		if uint64(n) > uint64(len(body)-8) {
			return fmt.Errorf("%w: secrets length %d", errFormat, n)
		}
		f.Secrets = append(f.Secrets, Secrets{Type: le.Uint32(body), Data: body[8 : 8+n]})
	case BlockEPB:
		if len(body) < 20 {
			return fmt.Errorf("%w: short packet block", errFormat)
		}
		ts := uint64(le.Uint32(body[4:]))<<32 | uint64(le.Uint32(body[8:]))
		capLen := le.Uint32(body[12:])
		if uint64(capLen) > uint64(len(body)-20) {
			return fmt.Errorf("%w: captured length %d", errFormat, capLen)
		}
		padded := (int(capLen) + 3) &^ 3
		if padded > len(body)-20 {
			return fmt.Errorf("%w: packet padding", errFormat)
		}
		opts, err := parseOpts(body[20+padded:])
		if err != nil {
			return err
		}
		f.Packets = append(f.Packets, Packet{Time: time.Unix(0, int64(ts)), Data: body[20 : 20+capLen], Comment: string(opts[optComment])})
	}
	return nil
}

func parseOpts(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: truncated option", errFormat)
		}
		code, n := le.Uint16(b), int(le.Uint16(b[2:]))
		if code == optEnd {
			return out, nil
		}
		padded := (n + 3) &^ 3
		if 4+padded > len(b) {
			return nil, fmt.Errorf("%w: option length %d", errFormat, n)
		}
		if _, dup := out[code]; !dup {
			out[code] = b[4 : 4+n]
		}
		b = b[4+padded:]
	}
	return out, nil
}

package pcapng

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// IP protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

var be = binary.BigEndian

// Segment is a TCP segment to build.
type Segment struct {
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
	// MSS, when non-zero, adds the MSS option (SYN and SYN-ACK).
	MSS     uint16
	Payload []byte
}

// TCP returns the IP packet carrying s, checksums filled in. Source and
// destination must be of one family (IPv4-mapped addresses count as IPv4).
func TCP(s Segment) ([]byte, error) {
	var opts []byte
	if s.MSS != 0 {
		opts = []byte{2, 4, byte(s.MSS >> 8), byte(s.MSS)}
	}
	hl := 20 + len(opts)
	tcp := make([]byte, hl, hl+len(s.Payload))
	be.PutUint16(tcp[0:], s.Src.Port())
	be.PutUint16(tcp[2:], s.Dst.Port())
	be.PutUint32(tcp[4:], s.Seq)
	be.PutUint32(tcp[8:], s.Ack)
	tcp[12] = byte(hl/4) << 4
	tcp[13] = s.Flags
	be.PutUint16(tcp[14:], s.Window)
	copy(tcp[20:], opts)
	tcp = append(tcp, s.Payload...)
	return ipPacket(s.Src.Addr(), s.Dst.Addr(), ProtoTCP, tcp, 16)
}

// UDP returns the IP packet carrying one datagram.
func UDP(src, dst netip.AddrPort, payload []byte) ([]byte, error) {
	if len(payload) > 0xffff-8 {
		return nil, fmt.Errorf("udp payload of %d bytes does not fit a datagram", len(payload))
	}
	udp := make([]byte, 8, 8+len(payload))
	be.PutUint16(udp[0:], src.Port())
	be.PutUint16(udp[2:], dst.Port())
	be.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	return ipPacket(src.Addr(), dst.Addr(), ProtoUDP, udp, 6)
}

// ipPacket wraps a transport segment in IPv4 or IPv6 and fills in the
// transport checksum at csumAt.
func ipPacket(src, dst netip.Addr, proto uint8, seg []byte, csumAt int) ([]byte, error) {
	// A dual-stack socket's session has both addresses IPv4-mapped: its
	// packets are IPv4. One mapped address beside a true IPv6 one (an
	// IPv6 header can carry it) stays an IPv6 packet.
	if s4, d4 := src.Unmap(), dst.Unmap(); s4.Is4() == d4.Is4() {
		src, dst = s4, d4
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("cannot build a packet from %v to %v: addresses of one IP family needed", src, dst)
	}
	// Pseudo-header sum (RFC 793, RFC 8200 8.1).
	var sum uint32
	s16, d16 := src.AsSlice(), dst.AsSlice()
	sum = add(sum, s16)
	sum = add(sum, d16)
	sum += uint32(proto) + uint32(len(seg))
	sum = add(sum, seg)
	c := fold(sum)
	if proto == ProtoUDP && c == 0 {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	be.PutUint16(seg[csumAt:], c)

	if src.Is4() {
		if len(seg) > 0xffff-20 {
			return nil, fmt.Errorf("segment of %d bytes does not fit an IPv4 packet", len(seg))
		}
		p := make([]byte, 20, 20+len(seg))
		p[0] = 0x45
		be.PutUint16(p[2:], uint16(20+len(seg)))
		p[6] = 0x40 // DF
		p[8] = 64   // TTL
		p[9] = proto
		copy(p[12:16], s16)
		copy(p[16:20], d16)
		be.PutUint16(p[10:], fold(add(0, p)))
		return append(p, seg...), nil
	}
	if len(seg) > 0xffff {
		return nil, fmt.Errorf("segment of %d bytes does not fit an IPv6 packet", len(seg))
	}
	p := make([]byte, 40, 40+len(seg))
	p[0] = 0x60
	be.PutUint16(p[4:], uint16(len(seg)))
	p[6] = proto
	p[7] = 64
	copy(p[8:24], s16)
	copy(p[24:40], d16)
	return append(p, seg...), nil
}

func add(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(be.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Decoded is a packet parsed back by Decode.
type Decoded struct {
	Src, Dst netip.AddrPort
	Proto    uint8
	Seq, Ack uint32 // TCP only
	Flags    uint8  // TCP only
	Payload  []byte
}

var errPacket = errors.New("malformed packet")

// Decode parses an IPv4 or IPv6 packet carrying TCP or UDP and verifies
// every checksum. It is the check of TCP and UDP, not a general decoder:
// IP options and IPv6 extension headers are refused.
func Decode(p []byte) (Decoded, error) {
	var d Decoded
	if len(p) < 1 {
		return d, errPacket
	}
	var src, dst netip.Addr
	var seg []byte
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 || p[0]&0x0f != 5 {
			return d, fmt.Errorf("%w: IPv4 header", errPacket)
		}
		if fold(add(0, p[:20])) != 0 {
			return d, fmt.Errorf("%w: IPv4 header checksum", errPacket)
		}
		n := int(be.Uint16(p[2:]))
		if n < 20 || n > len(p) {
			return d, fmt.Errorf("%w: IPv4 total length", errPacket)
		}
		d.Proto = p[9]
		src = netip.AddrFrom4([4]byte(p[12:16]))
		dst = netip.AddrFrom4([4]byte(p[16:20]))
		seg = p[20:n]
	case 6:
		if len(p) < 40 {
			return d, fmt.Errorf("%w: IPv6 header", errPacket)
		}
		n := int(be.Uint16(p[4:]))
		if 40+n > len(p) {
			return d, fmt.Errorf("%w: IPv6 payload length", errPacket)
		}
		d.Proto = p[6]
		src = netip.AddrFrom16([16]byte(p[8:24]))
		dst = netip.AddrFrom16([16]byte(p[24:40]))
		seg = p[40 : 40+n]
	default:
		return d, fmt.Errorf("%w: IP version %d", errPacket, p[0]>>4)
	}
	sum := add(0, src.AsSlice())
	sum = add(sum, dst.AsSlice())
	sum += uint32(d.Proto) + uint32(len(seg))
	if fold(add(sum, seg)) != 0 {
		return d, fmt.Errorf("%w: transport checksum", errPacket)
	}
	switch d.Proto {
	case ProtoTCP:
		if len(seg) < 20 {
			return d, fmt.Errorf("%w: TCP header", errPacket)
		}
		hl := int(seg[12]>>4) * 4
		if hl < 20 || hl > len(seg) {
			return d, fmt.Errorf("%w: TCP data offset", errPacket)
		}
		d.Seq, d.Ack, d.Flags = be.Uint32(seg[4:]), be.Uint32(seg[8:]), seg[13]
		d.Payload = seg[hl:]
	case ProtoUDP:
		if len(seg) < 8 || int(be.Uint16(seg[4:])) != len(seg) {
			return d, fmt.Errorf("%w: UDP length", errPacket)
		}
		d.Payload = seg[8:]
	default:
		return d, fmt.Errorf("%w: IP protocol %d", errPacket, d.Proto)
	}
	d.Src = netip.AddrPortFrom(src, be.Uint16(seg[0:]))
	d.Dst = netip.AddrPortFrom(dst, be.Uint16(seg[2:]))
	return d, nil
}

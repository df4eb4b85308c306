package tftp

import (
	"encoding/binary"
	"net"
	"reflect"
	"unsafe"
)

// This file reaches into pin/tftp v3.1.0's transfer values (the *sender
// behind io.ReaderFrom and the *receiver behind io.WriterTo) for three
// things the library does not expose:
//
//   - the transfer's own UDP socket (the server TID), so that refusals and
//     failures go out as ERROR packets with the right RFC 1350 code: the
//     library always sends code 1 (file not found), whatever the error;
//   - the transfer mode as the client wrote it: the library compares it
//     case-sensitively with "netascii" and treats anything else as octet;
//   - the options the client asked for and those acknowledged.
//
// Every accessor checks the field's kind and type and degrades to "not
// available" when the layout differs (another library version): the
// transfer then still works, with the library's code-1 errors.
// TestContractPinTFTPInternals checks the layout directly and fails loudly
// when the library changes it.

type internals struct {
	v reflect.Value // the struct behind the pointer
}

func inspect(x any) internals {
	v := reflect.ValueOf(x)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return internals{}
	}
	return internals{v: v.Elem()}
}

func (in internals) field(name string, kind reflect.Kind) (reflect.Value, bool) {
	if !in.v.IsValid() {
		return reflect.Value{}, false
	}
	f := in.v.FieldByName(name)
	if !f.IsValid() || f.Kind() != kind {
		return reflect.Value{}, false
	}
	return f, true
}

// mode returns the mode string of the request.
func (in internals) mode() (string, bool) {
	f, ok := in.field("mode", reflect.String)
	if !ok {
		return "", false
	}
	return f.String(), true
}

// setMode replaces the mode the library acts on; labd sets "octet" and
// converts netascii itself (in any letter case, and with tsize right).
func (in internals) setMode(m string) bool {
	f, ok := in.field("mode", reflect.String)
	if !ok || !f.CanAddr() {
		return false
	}
	*(*string)(unsafe.Pointer(f.UnsafeAddr())) = m
	return true
}

// options returns a copy of the transfer's option map: the client's
// request before the transfer starts, the acknowledged options after.
func (in internals) options() map[string]string {
	f, ok := in.field("opts", reflect.Map)
	if !ok || f.IsNil() || f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
		return nil
	}
	out := make(map[string]string, f.Len())
	it := f.MapRange()
	for it.Next() {
		out[it.Key().String()] = it.Value().String()
	}
	return out
}

// dropOption removes an option from the client's request before the
// library negotiates (the library cannot cap blksize at 512: its
// SetBlockSize ignores 512).
func (in internals) dropOption(name string) bool {
	f, ok := in.field("opts", reflect.Map)
	if !ok || f.IsNil() || !f.CanAddr() || f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
		return false
	}
	m := *(*map[string]string)(unsafe.Pointer(f.UnsafeAddr()))
	delete(m, name)
	return true
}

// setOption changes an option of the client's request before the
// library negotiates (blksize over 65464 clamped: RFC 2348 lets the
// server answer a smaller value; the library ignores such a request).
func (in internals) setOption(name, value string) bool {
	f, ok := in.field("opts", reflect.Map)
	if !ok || f.IsNil() || !f.CanAddr() || f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
		return false
	}
	m := *(*map[string]string)(unsafe.Pointer(f.UnsafeAddr()))
	m[name] = value
	return true
}

var udpConnType = reflect.TypeFor[*net.UDPConn]()

// conn returns the transfer's UDP socket, or nil (single-port mode, or
// another layout).
func (in internals) conn() *net.UDPConn {
	f, ok := in.field("conn", reflect.Interface)
	if !ok || f.IsNil() {
		return nil
	}
	p := f.Elem()
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return nil
	}
	c := p.Elem().FieldByName("conn")
	if !c.IsValid() || c.Type() != udpConnType || !c.CanAddr() {
		return nil
	}
	return *(**net.UDPConn)(unsafe.Pointer(c.UnsafeAddr()))
}

// TFTP error codes (RFC 1350, RFC 2347).
const (
	errNotDefined     = 0
	errNotFound       = 1
	errAccess         = 2
	errDiskFull       = 3
	errIllegal        = 4
	errUnknownTID     = 5
	errExists         = 6
	errNoUser         = 7
	errOptionRefused  = 8
	opERROR           = 5
	maxErrMessageSize = 400
)

// errorPacket builds an ERROR packet.
func errorPacket(code uint16, msg string) []byte {
	if len(msg) > maxErrMessageSize {
		msg = msg[:maxErrMessageSize]
	}
	p := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(p[0:], opERROR)
	binary.BigEndian.PutUint16(p[2:], code)
	p = append(p, msg...)
	return append(p, 0)
}

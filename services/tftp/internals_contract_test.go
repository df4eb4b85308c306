package tftp

import (
	"bytes"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"labd/internal/contract"
)

// TestContractPinTFTPInternals pins the private layout of pin/tftp v3.1.0
// that internals.go reads and writes through reflect and unsafe. The
// accessors degrade silently (a transfer then still works, but with the
// library's code-1 ERRORs, case-sensitive netascii and an uncapped
// blksize), so this test checks the fields directly and fails loudly:
//
//   - *tftp.sender and *tftp.receiver (behind io.ReaderFrom / io.WriterTo)
//     have a field mode string, a field opts of a map[string]string type,
//     and a field conn holding a *tftp.connConnection whose field conn is
//     a *net.UDPConn (the transfer's own port, the server TID).
//
// When this fails after an upgrade: read the new pin/tftp's sender.go,
// receiver.go and connection.go, adapt internals.go (or use a public API
// if the library grew one), then update the pinned version below.
func TestContractPinTFTPInternals(t *testing.T) {
	contract.Pin(t, "github.com/pin/tftp/v3", "v3.1.0",
		"the private fields mode, opts and conn(.conn) of *sender and *receiver (services/tftp/internals.go)")

	type seen struct {
		typ   string
		check []string // what does not hold
		mode  string
		opts  map[string]string
		conn  bool
	}
	got := make(chan seen, 2)
	look := func(x any) {
		s := seen{typ: reflect.TypeOf(x).String()}
		v := reflect.ValueOf(x)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			s.check = append(s.check, "not a pointer to a struct")
			got <- s
			return
		}
		st := v.Elem()
		if f := st.FieldByName("mode"); !f.IsValid() || f.Type() != reflect.TypeFor[string]() {
			s.check = append(s.check, "no field mode string")
		}
		if f := st.FieldByName("opts"); !f.IsValid() || f.Kind() != reflect.Map || f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
			s.check = append(s.check, "no field opts map[string]string")
		}
		if f := st.FieldByName("conn"); !f.IsValid() || f.Kind() != reflect.Interface {
			s.check = append(s.check, "no field conn of an interface type")
		} else if f.IsNil() || f.Elem().Type().String() != "*tftp.connConnection" {
			s.check = append(s.check, "conn does not hold a *tftp.connConnection in multi-port mode")
		} else if c := f.Elem().Elem().FieldByName("conn"); !c.IsValid() || c.Type() != reflect.TypeFor[*net.UDPConn]() {
			s.check = append(s.check, "connConnection has no field conn *net.UDPConn")
		}
		// And the accessors labd uses agree.
		in := inspect(x)
		var ok bool
		if s.mode, ok = in.mode(); !ok {
			s.check = append(s.check, "inspect: mode() not available")
		}
		if s.opts = in.options(); s.opts == nil {
			s.check = append(s.check, "inspect: options() not available")
		}
		s.conn = in.conn() != nil
		if !s.conn {
			s.check = append(s.check, "inspect: conn() not available")
		}
		got <- s
	}
	srv := pintftp.NewServer(
		func(_ string, rf io.ReaderFrom) error {
			look(rf)
			_, err := rf.ReadFrom(strings.NewReader("contract"))
			return err
		},
		func(_ string, wt io.WriterTo) error {
			look(wt)
			_, err := wt.WriteTo(io.Discard)
			return err
		})
	srv.SetTimeout(5 * time.Second)
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	t.Cleanup(func() {
		srv.Shutdown()
		<-served
	})

	cl, err := pintftp.NewClient(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl.SetTimeout(5 * time.Second)
	cl.SetBlockSize(1024)
	cl.RequestTSize(true)
	wt, err := cl.Receive("f", "NetASCII")
	if err != nil {
		t.Fatalf("RRQ: %v", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatalf("RRQ: %v", err)
	}
	rf, err := cl.Send("g", "octet")
	if err != nil {
		t.Fatalf("WRQ: %v", err)
	}
	if _, err := rf.ReadFrom(strings.NewReader("up")); err != nil {
		t.Fatalf("WRQ: %v", err)
	}

	for _, want := range []struct{ typ, mode string }{{"*tftp.sender", "NetASCII"}, {"*tftp.receiver", "octet"}} {
		var s seen
		select {
		case s = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("the handler for %s was not called", want.typ)
		}
		if s.typ != want.typ {
			t.Errorf("the transfer is a %s, internals.go expects %s", s.typ, want.typ)
		}
		for _, c := range s.check {
			t.Errorf("%s: %s", s.typ, c)
		}
		if s.mode != want.mode {
			t.Errorf("%s: mode %q, want the client's %q as written", s.typ, s.mode, want.mode)
		}
		if want.typ == "*tftp.sender" && (s.opts["blksize"] != "1024" || s.opts["tsize"] == "") {
			t.Errorf("%s: options %v, want the client's blksize 1024 and tsize", s.typ, s.opts)
		}
	}
}

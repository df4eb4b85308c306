package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/internal/pcapng"
)

func TestCaptureCommands(t *testing.T) {
	path, _ := writeConfig(t, nil)
	p := serve(t, path)
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", p.addr(t, "http/tcp"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /status/404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		io.ReadAll(bufio.NewReader(c))
		c.Close()
	}
	time.Sleep(100 * time.Millisecond) // the server side closes too
	out, code := labd(t, "sessions", "--config", path)
	if code != 0 {
		t.Fatal(out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, code := labd(t, "sessions", "--flow", id, "--config", path); code != 0 || !strings.Contains(out, " GET /status/404 HTTP/1.1 (+") || !strings.Contains(out, "|<") {
		t.Errorf("sessions --flow: %d\n%s", code, out)
	}
	dir := t.TempDir()
	read := func(name string) *pcapng.File {
		t.Helper()
		b, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		f, err := pcapng.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if out, code := labd(t, "sessions", "--pcap", id, "-o", filepath.Join(dir, "one.pcapng"), "--config", path); code != 0 {
		t.Fatalf("sessions --pcap: %d %s", code, out)
	}
	one := read("one.pcapng")
	if !strings.Contains(one.Comment, "Sessions: "+id+" (http)") {
		t.Errorf("comment %q", one.Comment)
	}
	if out, code := labd(t, "capture", "--protocol", "http", "--since", "10m", "-o", filepath.Join(dir, "all.pcapng"), "--config", path); code != 0 {
		t.Fatalf("capture: %d %s", code, out)
	}
	if all := read("all.pcapng"); len(all.Packets) < 2*len(one.Packets) {
		t.Errorf("class capture: %d packets, one session alone %d", len(all.Packets), len(one.Packets))
	}
	if out, code := labd(t, "sessions", "--pcap", "99999", "-o", filepath.Join(dir, "x"), "--config", path); code == 0 || !strings.Contains(out, "no such session") {
		t.Errorf("unknown session: %d %s", code, out)
	}
	if out, code := labd(t, "capture", "--config", path); code == 0 || !strings.Contains(out, "-o FILE") {
		t.Errorf("capture without -o: %d %s", code, out)
	}
}

package ftp

import (
	"strings"
	"testing"
)

func TestParseActive(t *testing.T) {
	tests := []struct{ verb, arg, addr, reply string }{
		{"PORT", "127,0,0,1,4,1", "127.0.0.1:1025", ""},
		{"PORT", "127, 0, 0, 1, 4, 1", "127.0.0.1:1025", ""},
		{"PORT", "127,0,0,1,0,0", "", "501"},
		{"PORT", "127,0,0,1,4", "", "501"},
		{"PORT", "127,0,0,256,4,1", "", "501"},
		{"PORT", "127,0,0,-1,4,1", "", "501"},
		{"PORT", "", "", "501"},
		{"EPRT", "|1|127.0.0.1|1025|", "127.0.0.1:1025", ""},
		{"EPRT", "!1!127.0.0.1!1025!", "127.0.0.1:1025", ""},
		{"EPRT", "|2|::1|1025|", "[::1]:1025", ""},
		{"EPRT", "|1|::1|1025|", "", "501"},
		{"EPRT", "|2|127.0.0.1|1025|", "", "501"},
		{"EPRT", "|3|127.0.0.1|1025|", "", "522"},
		{"EPRT", "|1|127.0.0.1|0|", "", "501"},
		{"EPRT", "|1|127.0.0.1|65536|", "", "501"},
		{"EPRT", "|1|127.0.0.1|1025", "", "501"},
		{"EPRT", "|2|fe80::1%eth0|1025|", "", "501"},
		{"EPRT", " 1 127.0.0.1 1025 ", "", "501"},
		{"EPRT", "", "", "501"},
	}
	for _, tt := range tests {
		addr, reply := parseActive(tt.verb, tt.arg)
		got := ""
		if addr != nil {
			got = addr.String()
		}
		if got != tt.addr || !strings.HasPrefix(reply, tt.reply) || (tt.reply == "") != (reply == "") {
			t.Errorf("%s %q: %q %q, want %q %q", tt.verb, tt.arg, got, reply, tt.addr, tt.reply)
		}
	}
}

// FuzzParseActive: every PORT/EPRT argument gets an address with a port,
// or a one-line 5xx reply.
func FuzzParseActive(f *testing.F) {
	for _, s := range []string{"127,0,0,1,4,1", "|1|127.0.0.1|1025|", "|2|::1|1|", "|3|x|1|", ",,,,,", "||||"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		for _, verb := range []string{"PORT", "EPRT"} {
			addr, reply := parseActive(verb, arg)
			if (addr == nil) == (reply == "") {
				t.Fatalf("%s %q: %v %q", verb, arg, addr, reply)
			}
			if addr != nil && (addr.Port == 0 || addr.IP == nil) {
				t.Fatalf("%s %q: %v", verb, arg, addr)
			}
			if reply != "" && (reply[0] != '5' || strings.Count(reply, "\r\n") != 1 || !strings.HasSuffix(reply, "\r\n")) {
				t.Fatalf("%s %q: reply %q", verb, arg, reply)
			}
		}
	})
}

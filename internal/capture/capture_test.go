package capture_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"labd/internal/capture"
	"labd/internal/labtest"
	"labd/internal/sessions"
)

// checks turns on every checksum check tshark has: the rebuilt packets
// must pass them.
var checks = []string{"-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}

// tshark returns the standard output of tshark reading file (its
// standard error warns about running as root).
func tshark(t *testing.T, file string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labtest.Tool(t, "tshark"), append(append([]string{"-n", "-r", file}, checks...), args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.Bytes())
	}
	return string(out)
}

// waitSession returns the first finished session that match accepts.
func waitSession(t *testing.T, reg *sessions.Registry, match func(sessions.Info) bool) *sessions.Session {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, in := range reg.List() {
			if !in.Open && match(in) {
				s, _ := reg.Get(in.ID)
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no such session recorded")
	return nil
}

func export(t *testing.T, ss ...capture.Session) string {
	t.Helper()
	var buf bytes.Buffer
	if err := capture.Write(&buf, ss); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "s.pcapng")
	if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("LABD_ARTIFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".pcapng"), buf.Bytes(), 0o644)
	}
	return f
}

// clean fails on anything tshark's expert info ranks as an error, and on
// malformed packets and bad checksums whatever their rank.
func clean(t *testing.T, file string) {
	t.Helper()
	out := tshark(t, file, "-q", "-z", "expert")
	for _, bad := range []string{"Errors (", "Malformed", "alformed", "checksum", "Checksum"} {
		if strings.Contains(out, bad) {
			t.Errorf("tshark -z expert reports %q:\n%s", bad, out)
		}
	}
}

// follow returns what each side sent in TCP stream 0, as tshark's Follow
// TCP Stream reassembles it.
func follow(t *testing.T, file string) (client, server []byte) {
	t.Helper()
	out := tshark(t, file, "-q", "-z", "follow,tcp,raw,0")
	body := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Node 1:") {
			body = true
			continue
		}
		if !body || strings.HasPrefix(line, "=====") || strings.TrimSpace(line) == "" {
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("follow output line %q: %v", line, err)
		}
		if strings.HasPrefix(line, "\t") {
			server = append(server, b...)
		} else {
			client = append(client, b...)
		}
	}
	return client, server
}

func sent(entries []sessions.Entry, dir sessions.Direction) []byte {
	var b []byte
	for _, e := range entries {
		if e.Dir == dir {
			b = append(b, e.Data...)
		}
	}
	return b
}

func TestWireshark(t *testing.T) {
	labtest.Tool(t, "tshark")
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	reg := d.Deps.Sessions

	t.Run("HTTP", func(t *testing.T) {
		addr := d.Addr(t, "http", "tcp")
		labtest.RunTool(t, "curl", "-sS", "-o", "/dev/null", "http://"+addr+"/wireshark/test?x=1")
		s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "http" && in.BytesIn > 0 })
		cs := capture.Of(s)
		f := export(t, cs)
		if got := strings.TrimSpace(tshark(t, f, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri")); got != "/wireshark/test?x=1" {
			t.Errorf("request URI %q", got)
		}
		c, sv := follow(t, f)
		if want := sent(cs.Entries, sessions.FromClient); !bytes.Equal(c, want) {
			t.Errorf("client stream differs:\n got %q\nwant %q", c, want)
		}
		if want := sent(cs.Entries, sessions.FromServer); !bytes.Equal(sv, want) {
			t.Errorf("server stream differs:\n got %q\nwant %q", sv, want)
		}
		clean(t, f)
	})

	t.Run("DNS", func(t *testing.T) {
		addr := d.Addr(t, "dns", "udp")
		host, port := hostPort(t, addr)
		labtest.RunTool(t, "dig", "@"+host, "-p", port, "+tries=1", "+time=5", "www."+cfg.Server.Domain, "A")
		s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "dns" && in.Transport == "udp" })
		f := export(t, capture.Of(s))
		out := tshark(t, f, "-Y", "dns", "-T", "fields", "-e", "dns.flags.response", "-e", "dns.qry.name")
		want := "0\twww." + cfg.Server.Domain + "\n1\twww." + cfg.Server.Domain + "\n"
		if out != want {
			t.Errorf("tshark sees\n%s\nwant\n%s", out, want)
		}
		clean(t, f)
	})

	t.Run("DNS TC then TCP", func(t *testing.T) {
		addr := d.Addr(t, "dns", "udp")
		host, port := hostPort(t, addr)
		name := "big." + cfg.Server.Domain
		labtest.RunTool(t, "dig", "@"+host, "-p", port, "+noedns", "+tries=1", "+time=5", name, "A")
		u := waitSession(t, reg, func(in sessions.Info) bool { return in.Transport == "udp" && in.Attrs["name"] == name+"." })
		tc := waitSession(t, reg, func(in sessions.Info) bool { return in.Transport == "tcp" && in.Attrs["name"] == name+"." })
		f := export(t, capture.Of(u), capture.Of(tc))
		// DNS over TCP has no heuristic in Wireshark: name the test's port.
		tport := labtest.Port(t, d.Addr(t, "dns", "tcp"))
		out := tshark(t, f, "-d", "tcp.port=="+tport+",dns", "-Y", "dns", "-T", "fields", "-e", "ip.proto", "-e", "dns.flags.response", "-e", "dns.flags.truncated", "-e", "dns.qry.name", "-e", "dns.count.answers")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{"17\t0\t0\t" + name + "\t0", "17\t1\t1\t" + name + "\t0", "6\t0\t0\t" + name + "\t0", "6\t1\t0\t" + name + "\t"}
		if len(lines) != len(want) {
			t.Fatalf("tshark sees\n%s", out)
		}
		for i := range want {
			if !strings.HasPrefix(lines[i], want[i]) {
				t.Errorf("packet %d: %q, want %q...", i, lines[i], want[i])
			}
		}
		clean(t, f)
	})

	t.Run("TFTP", func(t *testing.T) {
		pub := filepath.Join(cfg.Server.DataDir, "pub")
		if err := os.WriteFile(filepath.Join(pub, "pcap.bin"), bytes.Repeat([]byte("0123456789"), 130), 0o644); err != nil {
			t.Fatal(err)
		}
		addr := d.Addr(t, "tftp", "udp")
		dir := t.TempDir()
		labtest.RunTool(t, "curl", "-sS", "-o", filepath.Join(dir, "got"), "tftp://"+addr+"/pcap.bin")
		s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "tftp" && in.Attrs["file"] == "pcap.bin" })
		f := export(t, capture.Of(s))
		out := tshark(t, f, "-Y", "tftp", "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tftp.opcode", "-e", "tftp.block", "-e", "tftp.source_file")
		t.Logf("tshark:\n%s", out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		_, port := hostPort(t, addr)
		if len(lines) == 0 || !strings.HasSuffix(lines[0], "\t"+port+"\t1\t\tpcap.bin") {
			t.Errorf("first packet is not the RRQ to port %s: %q", port, lines[0])
		}
		for _, want := range []string{"\t3\t1\t", "\t3\t3\t", "\t4\t3\t"} {
			if !strings.Contains(out, want) {
				t.Errorf("tshark lacks %q (DATA/ACK blocks)", want)
			}
		}
		clean(t, f)
	})

	t.Run("FTP control and data", func(t *testing.T) {
		addr := d.Addr(t, "ftp", "tcp")
		src := filepath.Join(t.TempDir(), "up.txt")
		if err := os.WriteFile(src, []byte("uploaded for wireshark\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		labtest.RunTool(t, "curl", "-sS", "-T", src, "ftp://alice:alice@"+addr+"/up.txt")
		ctl := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "ftp" && in.User == "alice" })
		ss := capture.WithData(reg, ctl.ID())
		if len(ss) < 2 {
			t.Fatalf("control session exported with %d sessions, want its data connection too", len(ss))
		}
		f := export(t, ss...)
		port := labtest.Port(t, addr)
		out := tshark(t, f, "-d", "tcp.port=="+port+",ftp", "-Y", "ftp.request.command", "-T", "fields", "-e", "ftp.request.command")
		for _, want := range []string{"USER", "PASS", "STOR"} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("tshark lacks FTP command %s:\n%s", want, out)
			}
		}
		out = tshark(t, f, "-d", "tcp.port=="+port+",ftp", "-Y", "ftp-data", "-T", "fields", "-e", "tcp.payload")
		if !strings.Contains(out, hex.EncodeToString([]byte("uploaded for wireshark"))) {
			t.Errorf("tshark does not show the upload as FTP-DATA:\n%s", out)
		}
		clean(t, f)
	})

	t.Run("SSH stays encrypted", func(t *testing.T) {
		addr := d.Addr(t, "ssh", "tcp")
		labtest.Tool(t, "ssh")
		labtest.RunTool(t, "sshpass", "-p", "alice", "ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no", "-p", labtest.Port(t, addr), "alice@127.0.0.1", "whoami")
		s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "ssh" && in.User == "alice" })
		f := export(t, capture.Of(s))
		out := tshark(t, f, "-d", "tcp.port=="+labtest.Port(t, addr)+",ssh", "-Y", "ssh", "-T", "fields", "-e", "ssh.protocol", "-e", "ssh.message_code")
		if !strings.Contains(out, "SSH-2.0-") {
			t.Errorf("tshark does not see the SSH version exchange:\n%s", out)
		}
		if c := capture.Header([]capture.Session{capture.Of(s)}); !strings.Contains(c, "SSH cannot be decrypted") {
			t.Errorf("comment does not say SSH stays encrypted: %s", c)
		}
		clean(t, f)
	})

	t.Run("class capture", func(t *testing.T) {
		ss := capture.Select(reg, capture.Filter{Since: time.Now().Add(-10 * time.Minute)})
		if len(ss) < 3 {
			t.Fatalf("%d sessions selected", len(ss))
		}
		f := export(t, ss...)
		out := tshark(t, f, "-T", "fields", "-e", "frame.time_epoch", "-e", "_ws.col.Protocol")
		var prev string
		protos := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			ts, proto, _ := strings.Cut(line, "\t")
			if len(ts) == len(prev) && ts < prev {
				t.Errorf("packets out of time order: %s after %s", ts, prev)
			}
			prev = ts
			protos[proto] = true
		}
		for _, want := range []string{"HTTP", "DNS", "TFTP"} {
			if !protos[want] {
				t.Errorf("class capture lacks %s: %v", want, protos)
			}
		}
		clean(t, f)
	})
}

func TestWiresharkTLS(t *testing.T) {
	labtest.Tool(t, "tshark")
	cfg := labtest.Config(t)
	d := labtest.StartDaemon(t, cfg)
	reg := d.Deps.Sessions

	t.Run("HTTPS HTTP/2", func(t *testing.T) {
		addr := d.Addr(t, "https", "tcp")
		labtest.RunTool(t, "curl", "-sS", "--http2", "--cacert", d.Deps.TLS.CAFile, "-o", "/dev/null", "https://"+addr+"/secret/path?q=1")
		s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "https" && in.BytesIn > 0 })
		cs := capture.Of(s)
		if !bytes.Contains(cs.KeyLog, []byte("CLIENT_HANDSHAKE_TRAFFIC_SECRET ")) && !bytes.Contains(cs.KeyLog, []byte("CLIENT_RANDOM ")) {
			t.Fatalf("no TLS secrets kept: %q", cs.KeyLog)
		}
		f := export(t, cs)
		_, port := hostPort(t, addr)
		out := tshark(t, f, "-d", "tcp.port=="+port+",tls", "-Y", "http2.headers.path", "-T", "fields", "-e", "http2.headers.path")
		if !strings.Contains(out, "/secret/path?q=1") {
			t.Errorf("HTTP/2 path not decrypted; tshark:\n%s", out)
		}
		clean(t, f)
	})

	t.Run("IMAPS, POP3 STLS and FTPS", func(t *testing.T) {
		imaps := d.Addr(t, "imaps", "tcp")
		pop3 := d.Addr(t, "pop3", "tcp")
		ftp := d.Addr(t, "ftp", "tcp")
		labtest.RunTool(t, "curl", "-sS", "--cacert", d.Deps.TLS.CAFile, "-o", "/dev/null", "imaps://alice:alice@"+imaps+"/INBOX")
		labtest.RunTool(t, "curl", "-sS", "--ssl-reqd", "--cacert", d.Deps.TLS.CAFile, "-o", "/dev/null", "pop3://alice:alice@"+pop3+"/")
		// lftp says AUTH TLS; curl says AUTH SSL, after which Wireshark
		// 4.0 does not look for TLS on an FTP connection.
		labtest.RunTool(t, "lftp", "-e", "set ftp:ssl-force true; set ssl:ca-file "+d.Deps.TLS.CAFile+"; set net:max-retries 1; ls; bye",
			"-u", "alice,alice", "ftp://"+ftp)
		for _, tc := range []struct{ proto, decode, field, want string }{
			{"imaps", "tls.port==" + labtest.Port(t, imaps) + ",imap", "imap.request", "INBOX"},
			{"pop3", "tcp.port==" + labtest.Port(t, pop3) + ",pop", "pop.request.command", "LIST"},
			{"ftp", "tcp.port==" + labtest.Port(t, ftp) + ",ftp", "ftp.request.command", "PASS"},
		} {
			s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == tc.proto && in.TLS && in.User == "alice" })
			f := export(t, capture.Of(s))
			out := tshark(t, f, "-d", tc.decode, "-Y", tc.field, "-T", "fields", "-e", tc.field)
			if !strings.Contains(out, tc.want) {
				t.Errorf("%s: %s not decrypted; tshark:\n%s", tc.proto, tc.want, out)
			}
			clean(t, f)
		}
	})

	t.Run("SMTP STARTTLS", func(t *testing.T) {
		addr := d.Addr(t, "smtp", "tcp")
		host, port := hostPort(t, addr)
		labtest.RunTool(t, "swaks", "--server", host, "--port", port, "--tls", "--from", "sender@example.org", "--to", "alice@"+cfg.Server.Domain, "--body", "pcap test")
		s := waitSession(t, reg, func(in sessions.Info) bool { return in.Proto == "smtp" && in.TLS })
		f := export(t, capture.Of(s))
		out := tshark(t, f, "-d", "tcp.port=="+port+",smtp", "-Y", "smtp.req.command == \"MAIL\"", "-T", "fields", "-e", "smtp.req.parameter")
		if !strings.Contains(out, "sender@example.org") {
			t.Errorf("MAIL FROM not decrypted; tshark:\n%s", out)
		}
		clean(t, f)
	})
}

func hostPort(t *testing.T, addr string) (string, string) {
	h := addr[:strings.LastIndex(addr, ":")]
	return strings.Trim(h, "[]"), labtest.Port(t, addr)
}

package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"labd/config"
)

// The core targets, measured on the real binary with every
// enabled service: startup to all listeners ready under 200 ms, an idle
// daemon under 40 MB RSS, 2,000 simultaneous idle connections.
//
//	go test -run ^$ -bench . -benchtime 5x ./cmd/labd

// BenchmarkStartupToReady measures exec to "labd ready" (the moment
// systemd is notified) of a restart. The first start on a new data
// directory, which generates the lab CA, the SSH host keys (RSA 3072) and
// the demo users' password hashes, is done once before timing.
func BenchmarkStartupToReady(b *testing.B) {
	path, _ := writeConfig(b, nil)
	first := serve(b, path)
	first.cmd.Process.Signal(syscall.SIGTERM)
	first.wait(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := serve(b, path)
		b.StopTimer()
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(b)
		b.StartTimer()
	}
}

// BenchmarkIdleConnections opens 2,000 connections to the HTTP service,
// holds them idle, checks the daemon still answers a new request on each
// of a sample, and reports the daemon's RSS idle and with the connections.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 2000
	for i := 0; i < b.N; i++ {
		// One test client is one address: lift the per-address cap.
		path, _ := writeConfig(b, func(c *config.Config) { c.HTTP.MaxConnsPerIP = n + 10 })
		p := serve(b, path)
		time.Sleep(500 * time.Millisecond)
		b.ReportMetric(rssMB(p.cmd.Process.Pid), "idle-RSS-MB")
		addr := p.addrs["http/tcp"]
		conns := make([]net.Conn, 0, n)
		for j := 0; j < n; j++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("connection %d: %v", j, err)
			}
			conns = append(conns, c)
		}
		for j := 0; j < n; j += 100 {
			c := conns[j]
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(line, "200") {
				b.Fatalf("idle connection %d not served: %q %v", j, line, err)
			}
		}
		b.ReportMetric(rssMB(p.cmd.Process.Pid), "RSS-MB-with-2000-conns")
		for _, c := range conns {
			c.Close()
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(b)
	}
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

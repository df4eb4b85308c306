package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ListenTCP binds a TCP address for service name, with an error that says
// what to do when it fails.
func ListenTCP(name, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, BindError(name, "tcp", addr, err)
	}
	return ln, nil
}

// ListenUDP binds a UDP address for service name.
func ListenUDP(name, addr string) (net.PacketConn, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, BindError(name, "udp", addr, err)
	}
	return pc, nil
}

// BindError explains a failed bind: a privileged port without privileges,
// or a port another process holds (named when /proc tells).
func BindError(name, network, addr string, err error) error {
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	switch {
	case errors.Is(err, syscall.EACCES) && port < 1024:
		return fmt.Errorf("%s: cannot listen on %s %s: permission denied for a port below 1024: run labd as root, give it CAP_NET_BIND_SERVICE (the systemd unit does; or setcap cap_net_bind_service=+ep on the binary), or move it with server.port_offset or %s.listen: %w",
			name, network, addr, name, err)
	case errors.Is(err, syscall.EADDRINUSE):
		who := PortOwner(network, port)
		if who == "" {
			who = "another program"
		}
		return fmt.Errorf("%s: cannot listen on %s %s: the port is already in use by %s; stop it (for example systemctl disable --now ssh, postfix or systemd-resolved), or move labd's %s with %s.listen or server.port_offset: %w",
			name, network, addr, who, name, name, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s: cannot listen on %s %s: this machine has no such address; check server.listen and %s.listen (ip -br addr lists the addresses): %w",
			name, network, addr, name, err)
	}
	return fmt.Errorf("%s: cannot listen on %s %s: %w", name, network, addr, err)
}

// PortOwner names the process holding a local port ("sshd (pid 812)"), or
// "" when /proc does not say (another user's process without root).
func PortOwner(network string, port int) string {
	if port <= 0 {
		return ""
	}
	inodes := map[string]bool{}
	files := []string{"/proc/net/tcp", "/proc/net/tcp6"}
	if network == "udp" {
		files = []string{"/proc/net/udp", "/proc/net/udp6"}
	}
	want := fmt.Sprintf(":%04X", port)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !strings.HasSuffix(fields[1], want) {
				continue
			}
			// TCP: only the listening socket (state 0A) holds the port.
			if network == "tcp" && fields[3] != "0A" {
				continue
			}
			inodes["socket:["+fields[9]+"]"] = true
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !inodes[target] {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		return fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), pid)
	}
	return "a process of another user (run labd check as root to see which)"
}

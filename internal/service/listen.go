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
	return listenTCP(name, addr, false)
}

func listenTCP(name, addr string, noKeepAlive bool) (net.Listener, error) {
	var lc net.ListenConfig
	if noKeepAlive {
		lc.KeepAlive = -1
	}
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

// ListenKeys maps a listening service's name to the config key of its
// addresses (a test checks that each key exists).
var ListenKeys = map[string]string{
	"http": "http.listen", "https": "http.tls_listen",
	"smtp": "smtp.listen", "submission": "smtp.submission_listen", "smtps": "smtp.tls_listen",
	"pop3": "pop3.listen", "pop3s": "pop3.tls_listen",
	"imap": "imap.listen", "imaps": "imap.tls_listen",
	"dns": "dns.listen", "ftp": "ftp.listen", "tftp": "tftp.listen",
	"ssh": "ssh.listen", "telnet": "telnet.listen",
}

// listenKey is the config key that moves service name.
func listenKey(name string) string {
	if k, ok := ListenKeys[name]; ok {
		return k
	}
	return name + ".listen"
}

// BindError explains a failed bind: a privileged port without privileges,
// or a port another process holds (named when /proc tells).
func BindError(name, network, addr string, err error) error {
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	key := listenKey(name)
	switch {
	case errors.Is(err, syscall.EACCES) && port < 1024:
		return fmt.Errorf("%s: cannot listen on %s %s: permission denied for a port below 1024: run labd as root, give it CAP_NET_BIND_SERVICE (the systemd unit does; or setcap cap_net_bind_service=+ep on the binary), or move it with server.port_offset or %s: %w",
			name, network, addr, key, err)
	case errors.Is(err, syscall.EADDRINUSE):
		who, unit := portHolder(network, port)
		stop := "stop it"
		switch {
		case who == "":
			who = "another program"
		case unit != "":
			stop = "stop it (systemctl disable --now " + unit + ")"
		}
		return fmt.Errorf("%s: cannot listen on %s %s: the port is already in use by %s; %s, or move labd's %s with %s or server.port_offset: %w",
			name, network, addr, who, stop, name, key, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s: cannot listen on %s %s: this machine has no such address; check server.listen and %s (ip -br addr lists the addresses): %w",
			name, network, addr, key, err)
	}
	return fmt.Errorf("%s: cannot listen on %s %s: %w", name, network, addr, err)
}

// portHolder is PortOwner plus the systemd system service the process
// belongs to ("ssh.service"), or "" when it is none (a user's program).
func portHolder(network string, port int) (who, unit string) {
	who, pid := portOwner(network, port)
	if pid == "" {
		return who, ""
	}
	return who, systemUnit(pid)
}

// systemUnit reads the system service of a process from its cgroup
// ("0::/system.slice/ssh.service").
func systemUnit(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "/system.slice/")
		if i < 0 {
			continue
		}
		u := line[i+len("/system.slice/"):]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			u = u[:j]
		}
		if strings.HasSuffix(u, ".service") {
			return u
		}
	}
	return ""
}

// PortOwner names the process holding a local port ("sshd (pid 812)"), or
// "" when /proc does not say (another user's process without root).
func PortOwner(network string, port int) string {
	who, _ := portOwner(network, port)
	return who
}

// portOwner is PortOwner with the pid ("" when unknown).
func portOwner(network string, port int) (string, string) {
	if port <= 0 {
		return "", ""
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
		return "", ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !inodes[target] {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		return fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), pid), pid
	}
	return "a process of another user (run labd check as root to see which)", ""
}

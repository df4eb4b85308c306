#!/usr/bin/env python3
"""idleconns.py PORT PID N: opens N connections to the IMAP server on
127.0.0.1:PORT, reads each greeting, lets them sit idle, and prints the
growth of process PID's resident memory per connection in KiB. A sample
of the idle connections must still answer NOOP."""
import resource
import socket
import sys
import time

port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 100)), hard))


def rss_kib():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


time.sleep(1)
before = rss_kib()
conns = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not c.recv(512).startswith(b"* OK"):
        sys.exit("connection %d: no IMAP greeting" % i)
    conns.append(c)
time.sleep(2)
after = rss_kib()
for i in range(0, n, max(1, n // 20)):
    conns[i].sendall(b"a NOOP\r\n")
    if b"a OK" not in conns[i].recv(512):
        sys.exit("idle connection %d does not answer NOOP" % i)
for c in conns:
    c.close()
print("%.2f" % ((after - before) / n))

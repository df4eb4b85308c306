#!/usr/bin/env python3
"""startbench.py PORT CMD...: milliseconds from exec of CMD to the first
HTTP response on 127.0.0.1:PORT (connect polled every 0.2 ms), then stops
CMD with SIGTERM. The fork and exec from python count on both sides."""
import signal
import socket
import subprocess
import sys
import time

port, cmd = int(sys.argv[1]), sys.argv[2:]
t0 = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if p.poll() is not None:
                sys.exit("%s exited with %s before listening" % (cmd[0], p.returncode))
            if time.perf_counter() - t0 > 20:
                sys.exit("%s: nothing listens on %d after 20 s" % (cmd[0], port))
            time.sleep(0.0002)
    s.sendall(b"GET /1k.bin HTTP/1.0\r\nHost: x\r\n\r\n")
    head = s.recv(64)
    t1 = time.perf_counter()
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head:
        sys.exit("%s: unexpected answer %r" % (cmd[0], head))
    s.close()
    print("%.2f" % ((t1 - t0) * 1000))
finally:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

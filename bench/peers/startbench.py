#!/usr/bin/env python3
"""startbench.py PORT CMD...: milliseconds from exec of CMD to the first
HTTP response on 127.0.0.1:PORT (connect polled every 0.2 ms), and the
CPU milliseconds CMD and its children (nginx's workers) had used by then
(from /proc/PID/task/*/schedstat: exact, and much less disturbed by the
load of a shared machine than the wall time); then stops CMD with
SIGTERM. The fork and exec from python count on both sides."""
import os
import signal
import socket
import subprocess
import sys
import time



def cpu_ms(root):
    """CPU time of root and its descendants' threads, in ms."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    tree, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for k, pp in parent.items():
            if pp == p and k not in tree:
                tree.add(k)
                todo.append(k)
    ns = 0
    for pid in tree:
        try:
            for t in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    ns += int(f.read().split()[0])
        except OSError:
            pass
    return ns / 1e6


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
    print("%.2f %.2f" % ((t1 - t0) * 1000, cpu_ms(p.pid)))
finally:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

#!/usr/bin/env python3
"""cputree.py PID CMD...: runs CMD and prints its wall time and the CPU
seconds that server process PID and its descendants used meanwhile.
sshd's per-connection processes are not always reaped into its own
counters (the unprivileged child of a non-root login is not), so the
descendants are polled every 20 ms and their last reading summed; what a
descendant uses after the last poll, or one that lives less than 20 ms,
is missed (small against a transfer of seconds)."""
import os
import subprocess
import sys
import time

root, cmd = int(sys.argv[1]), sys.argv[2:]
hz = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])  # ppid, utime+stime


def scan(seen):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                kids[int(d)] = stat(int(d))
            except (OSError, ValueError, IndexError):
                pass
    tree, todo = set(), [root]
    while todo:
        p = todo.pop()
        for k, (pp, _) in kids.items():
            if pp == p and k not in tree:
                tree.add(k)
                todo.append(k)
    for k in tree:
        seen[k] = kids[k][1]


before = stat(root)[1]
seen = {}
scan(seen)
old = dict(seen)  # descendants already there count from now on
t0 = time.perf_counter()
p = subprocess.Popen(cmd)
while p.poll() is None:
    scan(seen)
    time.sleep(0.02)
wall = time.perf_counter() - t0
scan(seen)
if p.returncode != 0:
    sys.exit("%s failed with status %d" % (cmd[0], p.returncode))
ticks = stat(root)[1] - before + sum(v - old.get(k, 0) for k, v in seen.items())
print("%.4f %.3f" % (wall, ticks / hz))

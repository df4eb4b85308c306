#!/usr/bin/env python3
"""The IMAP client side of run.sh: python's imaplib, as a student's script
or a simple client would use it.

    imapbench.py PORT MAILBOX  ->  "append_ms fetch_headers_ms fetch_bodies_ms"

Creates MAILBOX for alice/alice, APPENDs 1,000 messages of 10 KB (time per
APPEND), opens the folder as Thunderbird does (FLAGS, ENVELOPE,
BODYSTRUCTURE and four header fields of every message; the second, warm
FETCH is timed), fetches every full body, checks what came back, and
deletes the mailbox."""
import imaplib
import sys
import time

N = 1000
port, box = int(sys.argv[1]), sys.argv[2]
c = imaplib.IMAP4("127.0.0.1", port)
c.login("alice", "alice")
c.delete(box)
typ, _ = c.create(box)
assert typ == "OK", "CREATE failed"
line = b"y" * 78 + b"\r\n"
t = time.perf_counter()
for i in range(N):
    msg = (b"From: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: message %d\r\n"
           b"Date: Mon, 30 Nov 2026 08:00:00 +0000\r\nMessage-ID: <%d@lab.test>\r\n\r\n" % (i, i)) + line * 125
    typ, data = c.append(box, None, None, msg)
    assert typ == "OK", data
append_ms = (time.perf_counter() - t) * 1000 / N
typ, data = c.select(box, readonly=True)
assert typ == "OK" and int(data[0]) == N, data
items = "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From To Subject Date)])"
for _ in range(2):
    t = time.perf_counter()
    typ, data = c.fetch("1:*", items)
    fetch_ms = (time.perf_counter() - t) * 1000
    assert typ == "OK"
    got = sum(1 for d in data if isinstance(d, tuple))
    assert got == N, "FETCH returned %d messages" % got
    assert b"message 999" in data[-2][1], data[-2]
t = time.perf_counter()
typ, data = c.fetch("1:*", "(BODY.PEEK[])")
body_ms = (time.perf_counter() - t) * 1000
bodies = [d[1] for d in data if isinstance(d, tuple)]
assert typ == "OK" and len(bodies) == N and all(len(b) >= 10000 for b in bodies), "full FETCH"
c.close()
c.delete(box)
c.logout()
print("%.3f %.1f %.1f" % (append_ms, fetch_ms, body_ms))

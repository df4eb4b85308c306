#!/usr/bin/env python3
"""Prints run.sh's results as one table: per metric and peer, the medians,
the ratio labd/peer as a speed (above 1.0: labd is faster; for times it
is peer time / labd time) and the spread (lowest-highest per-pair ratio)."""
import statistics
import sys

rows = {}
order = []
for line in open(sys.argv[1]):
    metric, unit, better, a, b, peer = line.rstrip("\n").split("\t")
    try:
        a, b = float(a), float(b)
    except ValueError:
        continue
    key = (metric, peer)
    if key not in rows:
        rows[key] = (unit, better, [])
        order.append(key)
    rows[key][2].append((a, b))

def fmt(x):
    return "%.0f" % x if x >= 100 else "%.3g" % x

head = ("metric", "peer", "labd", "peer value", "speed ratio", "spread", "pairs")
out = [head]
for key in order:
    unit, better, pairs = rows[key]
    ratios = [(a / b if better == "up" else b / a) for a, b in pairs if a > 0 and b > 0]
    if not ratios:
        continue
    la = statistics.median(a for a, _ in pairs)
    pb = statistics.median(b for _, b in pairs)
    out.append((key[0], key[1], "%s %s" % (fmt(la), unit), "%s %s" % (fmt(pb), unit),
                "%.2f" % statistics.median(ratios), "%.2f-%.2f" % (min(ratios), max(ratios)), str(len(ratios))))
w = [max(len(r[i]) for r in out) for i in range(len(head))]
print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |")
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in out[1:]:
    print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")

#!/bin/bash
# Runs a measurement (bench/peers/run.sh, wrk, dnsperf) ahead of other work
# on a shared host:
#
#   sudo bench/peers/prio.sh env ONLY="http dns" bench/peers/run.sh
#
# With the kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled
# = 1, Debian's default), CPU time is shared fairly between sessions first
# and by nice value only inside a session: builds started with "nice -n 15"
# from other terminals or agents still get a full session's share, and a
# measurement gets 1/(busy sessions) of the CPU. This starts the command in
# a session of its own and gives that session the weight of nice PRIO
# (default -15: about 80% of the CPU against seven busy sessions), which is
# what "others build at nice 15" was meant to give. Needs root for a
# negative value. Everything the command starts (labd, the peers, the load
# generators) inherits the session.
set -eu
PRIO=${PRIO:--15}
[ $# -gt 0 ] || { echo "usage: $0 command [args...]" >&2; exit 2; }
exec setsid -w bash -c 'echo "$0" >/proc/self/autogroup 2>/dev/null || echo "prio.sh: cannot set the session weight; measuring at the default share" >&2; exec "$@"' "$PRIO" "$@"

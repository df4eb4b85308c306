#!/bin/bash
# labd against the servers it replaces, side by side on loopback.
#
#   bench/peers/run.sh                 # everything, 3 pairs each (~10 min)
#   PAIRS=1 DUR=2 bench/peers/run.sh   # a short form (CI smoke)
#   ONLY="http dns" bench/peers/run.sh # some groups only
#
# Every metric runs labd and its peer alternately (PAIRS pairs, the same
# load generator, session recording on) and checks correctness on the
# side; the table gives the medians, the ratio labd/peer as a speed (above
# 1: labd is faster) and the spread of the per-pair ratios. It needs root
# (vsftpd, dovecot and in.tftpd drop privileges themselves), binds only
# 127.0.0.1 ports 20000-24999 (below the ephemeral range), and stops everything it started.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/peers"
PAIRS=${PAIRS:-3}
DUR=${DUR:-5}
ONLY=${ONLY:-"http dns ftp tftp imap ssh smtp startup memory"}
OFF=${LABD_PORT_OFFSET:-20000}   # labd's ports: standard + OFF
WORK=$(mktemp -d /tmp/labd-peers.XXXXXX)
# Peers drop privileges (dovecot's mail processes run as nobody).
chmod 755 "$WORK"
RES="$WORK/results.tsv"
PIDS=()
ON_EXIT=() # commands cleanup runs (groups that start daemons or add accounts)

log() { echo "== $*" >&2; }
# die works inside $(...) too: the main shell checks the mark after each group.
die() { log "FAILED: $*"; touch "$WORK/failed"; exit 1; }

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
	[ -f "$WORK/named.pid" ] && kill "$(cat "$WORK/named.pid")" 2>/dev/null
	for c in "${ON_EXIT[@]}"; do eval "$c" >/dev/null 2>&1; done
	if [ -n "${KEEP:-}" ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs a server in the background, logging to WORK.
start() {
	local name=$1; shift
	"$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
}

# wait_tcp PORT: until something listens on 127.0.0.1:PORT.
wait_tcp() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	die "nothing listens on 127.0.0.1:$1"
}

# record METRIC UNIT HIGHER LABD PEER PEERNAME: one pair of measurements.
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RES"; }

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.4f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

"$HERE/install.sh" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; die "installing the peers"; }

log "building labd"
LABD=${LABD:-}
if [ -z "$LABD" ]; then
	(cd "$ROOT" && go build -o "$WORK/labd" ./cmd/labd) || die "go build"
	LABD="$WORK/labd"
fi

# ---- shared data -------------------------------------------------------
mkdir -p "$WORK/www" "$WORK/files" "$WORK/tftp" "$WORK/labd-data"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((1 << 20)) /dev/urandom >"$WORK/www/1m.bin"
FTP_MB=${FTP_MB:-256}
TFTP_MB=${TFTP_MB:-16}
head -c $((FTP_MB << 20)) /dev/urandom >"$WORK/files/big.bin"
head -c $((TFTP_MB << 20)) /dev/urandom >"$WORK/tftp/t.bin"

cat >"$WORK/labd.yaml" <<YAML
server:
  hostname: labhost
  domain: lab.test
  data_dir: $WORK/labd-data
  listen: [127.0.0.1]
  port_offset: $OFF
  log_level: warn
users:
  demo: true
http:
  root: $WORK/www
  max_conns_per_ip: 1000
dns:
  # nsd and bind9 do not rate-limit by default either.
  rate_limit_exempt: [127.0.0.0/8]
ftp:
  passive_ports: "23000-23099"
  max_conns_per_ip: 100
tftp:
  root: $WORK/tftp
imap:
  max_conns_per_ip: 100
YAML
start labd "$LABD" serve --config "$WORK/labd.yaml"
wait_tcp $((OFF + 80))
wait_tcp $((OFF + 143))
# The FTP user's home holds the download file too.
cp "$WORK/files/big.bin" "$WORK/labd-data/home/alice/big.bin" 2>/dev/null || die "labd home of alice missing"

# ---- HTTP: nginx ----------------------------------------------------------
run_http() {
	mkdir -p "$WORK/nginx-tmp"
	sed -e "s|@WORK@|$WORK|g" "$HERE/nginx.conf" >"$WORK/nginx.conf"
	start nginx nginx -c "$WORK/nginx.conf" -p "$WORK"
	wait_tcp 21080
	for port in $((OFF + 80)) 21080 21081; do
		curl -sf "http://127.0.0.1:$port/1m.bin" | cmp -s - "$WORK/www/1m.bin" || die "HTTP 1 MB file differs on port $port"
	done
	wrk_rps() { wrk "$@" | awk '/Requests\/sec/ {print $2}'; }
	for _ in $(seq "$PAIRS"); do
		local a b c
		# labd, nginx, then nginx writing its access log (port 21081), the
		# same labd figure in both rows.
		a=$(wrk_rps -t2 -c64 -d"${DUR}s" "http://127.0.0.1:$((OFF + 80))/1k.bin")
		b=$(wrk_rps -t2 -c64 -d"${DUR}s" "http://127.0.0.1:21080/1k.bin")
		c=$(wrk_rps -t2 -c64 -d"${DUR}s" "http://127.0.0.1:21081/1k.bin")
		record "HTTP 1 KB keep-alive (wrk -t2 -c64)" req/s up "$a" "$b" nginx
		record "HTTP 1 KB keep-alive, nginx with its access log" req/s up "$a" "$c" "nginx, log"
		a=$(wrk_rps -t2 -c64 -d"${DUR}s" -H "Connection: close" "http://127.0.0.1:$((OFF + 80))/1k.bin")
		b=$(wrk_rps -t2 -c64 -d"${DUR}s" -H "Connection: close" "http://127.0.0.1:21080/1k.bin")
		c=$(wrk_rps -t2 -c64 -d"${DUR}s" -H "Connection: close" "http://127.0.0.1:21081/1k.bin")
		record "HTTP 1 KB Connection: close" req/s up "$a" "$b" nginx
		record "HTTP 1 KB Connection: close, nginx with its access log" req/s up "$a" "$c" "nginx, log"
		rm -f "$WORK/nginx-access.log"; kill -USR1 "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
		a=$(wrk_rps -t2 -c8 -d"${DUR}s" "http://127.0.0.1:$((OFF + 80))/1m.bin")
		b=$(wrk_rps -t2 -c8 -d"${DUR}s" "http://127.0.0.1:21080/1m.bin")
		record "HTTP 1 MB file (wrk -t2 -c8)" req/s up "$a" "$b" nginx
	done
}

# ---- DNS: nsd and bind9 serve labd's own zone (taken by AXFR) -------------
run_dns() {
	dig +noall +answer +nocmd @127.0.0.1 -p $((OFF + 53)) lab.test AXFR | awk '!seen[$0]++' >"$WORK/lab.test.zone"
	grep -q SOA "$WORK/lab.test.zone" || die "no AXFR of lab.test from labd"
	mkdir -p "$WORK/nsd"
	sed -e "s|@WORK@|$WORK|g" "$HERE/nsd.conf" >"$WORK/nsd.conf"
	start nsd nsd -d -c "$WORK/nsd.conf"
	mkdir -p "$WORK/named"
	chown bind: "$WORK/named" 2>/dev/null
	sed -e "s|@WORK@|$WORK|g" "$HERE/named.conf" >"$WORK/named.conf"
	start named named -g -u bind -c "$WORK/named.conf"
	sleep 1
	printf 'labhost.lab.test A\nlab.test MX\nwww.lab.test A\nsmtp.lab.test A\nrr.lab.test A\nlab.test NS\nnope.lab.test A\nlab.test TXT\n' >"$WORK/queries.txt"
	local want got
	want=$(dig +short @127.0.0.1 -p $((OFF + 53)) rr.lab.test A | sort)
	for port in 21053 22053; do
		got=$(dig +short @127.0.0.1 -p $port rr.lab.test A | sort)
		[ -n "$want" ] && [ "$got" = "$want" ] || die "DNS answers differ on port $port: '$got' vs labd '$want'"
	done
	dnsperf_run() {
		dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -c 4 -l "$DUR" >"$WORK/dnsperf.out" 2>&1
		local lost
		lost=$(awk '/Queries lost/ {print $3}' "$WORK/dnsperf.out")
		[ "$lost" = "0" ] || log "DNS on port $1 lost $lost queries"
		awk '/Queries per second/ {print $4}' "$WORK/dnsperf.out"
	}
	dnslat() { awk '/Average Latency/ {print $4 * 1e6}' "$WORK/dnsperf.out"; }
	for _ in $(seq "$PAIRS"); do
		local a b la lb
		a=$(dnsperf_run $((OFF + 53))); la=$(dnslat)
		b=$(dnsperf_run 21053); lb=$(dnslat)
		record "DNS qps (dnsperf -c 4)" qps up "$a" "$b" nsd
		record "DNS average latency" us down "$la" "$lb" nsd
		a=$(dnsperf_run $((OFF + 53))); la=$(dnslat)
		b=$(dnsperf_run 22053); lb=$(dnslat)
		record "DNS qps (dnsperf -c 4)" qps up "$a" "$b" bind9
		record "DNS average latency" us down "$la" "$lb" bind9
	done
}

# ---- FTP: vsftpd ----------------------------------------------------------
run_ftp() {
	# Anonymous on vsftpd (no system account to create), alice on labd:
	# the login is not what is measured.
	mkdir -p "$WORK/vsftpd/root/incoming" "$WORK/vsftpd/empty"
	cp "$WORK/files/big.bin" "$WORK/vsftpd/root/big.bin"
	chmod 644 "$WORK/vsftpd/root/big.bin"
	chown ftp: "$WORK/vsftpd/root/incoming"
	sed -e "s|@WORK@|$WORK|g" "$HERE/vsftpd.conf" >"$WORK/vsftpd.conf"
	start vsftpd vsftpd "$WORK/vsftpd.conf"
	local vsftpd_pid=${PIDS[-1]} labd_pid=${PIDS[0]}
	wait_tcp 21021
	local la="ftp://alice:alice@127.0.0.1:$((OFF + 21))" lb="ftp://anonymous:x@127.0.0.1:21021"
	# Transfer time only (curl's total minus pre-transfer): the login
	# (bcrypt on labd, none for vsftpd's anonymous) is not the data path.
	xfer='%{time_total} %{time_pretransfer}'
	secs() { awk '{printf "%.4f\n", $1 - $2}'; }
	get() { curl -sf --ftp-pasv -w "$xfer" -o "$WORK/got.bin" "$1/big.bin" | secs || die "FTP download from $1"; cmp -s "$WORK/got.bin" "$WORK/files/big.bin" || die "FTP download from $1 differs"; }
	# put URL NAME PID: the upload's transfer time, then the CPU seconds
	# of the server (PID and its descendants, cputree.py): the wall time of
	# an upload swings with the kernel's writeback of the pages just
	# written (pairs from 0.1 to 4 on this VM), the server's CPU much less.
	put() {
		local out
		out=$(python3 "$HERE/cputree.py" "$3" curl -sf --ftp-pasv -w "$xfer\n" -T "$WORK/files/big.bin" "$1/$2") || die "FTP upload to $1"
		printf '%s\n' "$out" | awk 'NR == 1 {t = $1 - $2} NR == 2 {printf "%.4f %s\n", t, $2}'
	}
	mbs() { python3 -c "import sys; print('%.1f' % ($FTP_MB / float(sys.argv[1])))" "$1"; }
	# login URL PID: the server's CPU seconds for a login alone (median of
	# 3; curl -I logs in and asks SIZE), taken off each upload's CPU: the
	# login is bcrypt on labd (60 ms, a third of a 256 MiB upload's CPU)
	# and nothing for vsftpd's anonymous, and the row compares data paths.
	login() {
		local i
		for i in 1 2 3; do
			python3 "$HERE/cputree.py" "$2" curl -sf -I -o /dev/null "$1/big.bin" || die "FTP login to $1"
		done | awk '{print $2}' | sort -n | sed -n 2p
	}
	minus() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0.001) d = 0.001; printf "%.3f\n", d }'; }
	# The copies just written (and each upload) are still being written
	# back to disk: sync before every timed transfer, and one untimed
	# download from each side first, so that no side pays for the other's
	# writeback or a cold cache (the first pair measured 0.37 otherwise).
	sync; get "$la" >/dev/null; get "$lb" >/dev/null
	local login_a login_b
	login_a=$(login "$la" "$labd_pid"); login_b=$(login "$lb" "$vsftpd_pid")
	# free: write a scratch copy of the file, sync it and remove it right
	# before each timed upload. This VM hands memory that stays free back
	# to its host (free page reporting, `page_reporting` in the kernel's
	# command line); a writer whose page-cache pages must come back from
	# the host waits for it, charged as system CPU: single uploads of
	# either server were 5 to 10 times slower, in no order (spread
	# 0.11-11.6 in one run). Pages freed a moment ago are handed out
	# first: `dd` of 256 MiB to a new file took 0.08-0.09 s each time
	# after removing another, and 0.22-1.8 s without. So every upload,
	# labd's and vsftpd's, starts with FTP_MB of page cache just freed.
	free() { cp "$WORK/files/big.bin" "$WORK/scratch.bin" && sync && rm -f "$WORK/scratch.bin"; }
	# upload SIDE NAME: sets ua (labd) or ub (vsftpd) and checks the bytes.
	local ua ub
	upload() {
		free; sync
		case $1 in
		labd) ua=$(put "$la" "$2" "$labd_pid"); cmp -s "$WORK/labd-data/home/alice/$2" "$WORK/files/big.bin" || die "FTP upload to labd differs" ;;
		vsftpd) ub=$(put "$lb" "incoming/$2" "$vsftpd_pid"); cmp -s "$WORK/vsftpd/root/incoming/$2" "$WORK/files/big.bin" || die "FTP upload to vsftpd differs" ;;
		esac
	}
	# Files that replacing uploads overwrite: vsftpd truncates the old file
	# and writes over it; labd writes a new file beside it and exchanges the
	# two at the end (a failed upload leaves the old one intact), so it
	# needs FTP_MB of memory more while it writes.
	upload labd keep.bin; upload vsftpd keep.bin
	local i first second
	for i in $(seq "$PAIRS"); do
		local a b
		sync; a=$(mbs "$(get "$la")"); sync; b=$(mbs "$(get "$lb")")
		record "FTP passive download ${FTP_MB} MiB (curl)" MiB/s up "$a" "$b" vsftpd
		# Each side goes first in every other pair, and each upload is to
		# a new name, removed afterwards (what a class mostly does).
		if [ $((i % 2)) = 1 ]; then first=labd second=vsftpd; else first=vsftpd second=labd; fi
		upload $first "up$i.bin"; upload $second "up$i.bin"
		rm -f "$WORK/labd-data/home/alice/up$i.bin" "$WORK/vsftpd/root/incoming/up$i.bin"
		record "FTP passive upload ${FTP_MB} MiB, new file (curl)" MiB/s up "$(mbs "${ua% *}")" "$(mbs "${ub% *}")" vsftpd
		record "FTP upload new file: server CPU seconds, login taken off" s down "$(minus "${ua#* }" "$login_a")" "$(minus "${ub#* }" "$login_b")" vsftpd
		upload $second keep.bin; upload $first keep.bin
		record "FTP passive upload ${FTP_MB} MiB replacing a file (curl)" MiB/s up "$(mbs "${ua% *}")" "$(mbs "${ub% *}")" vsftpd
		record "FTP upload replacing: server CPU seconds, login off" s down "$(minus "${ua#* }" "$login_a")" "$(minus "${ub#* }" "$login_b")" vsftpd
	done
}

# ---- TFTP: tftpd-hpa ------------------------------------------------------
run_tftp() {
	start tftpd in.tftpd -L -u tftp -a 127.0.0.1:21069 -s "$WORK/tftp"
	sleep 0.5
	get() { local t; t=$(now); (cd "$WORK" && atftp -g -r t.bin -l tftp-got.bin 127.0.0.1 "$1" >/dev/null 2>&1) || die "TFTP from port $1"; elapsed "$t"; cmp -s "$WORK/tftp-got.bin" "$WORK/tftp/t.bin" || die "TFTP from port $1 differs"; }
	mbs() { python3 -c "import sys; print('%.2f' % ($TFTP_MB / float(sys.argv[1])))" "$1"; }
	for _ in $(seq "$PAIRS"); do
		local a b
		a=$(mbs "$(get $((OFF + 69)))"); b=$(mbs "$(get 21069)")
		record "TFTP ${TFTP_MB} MiB, 512-byte blocks (atftp)" MiB/s up "$a" "$b" tftpd-hpa
	done
}

# ---- IMAP: dovecot --------------------------------------------------------
run_imap() {
	mkdir -p "$WORK/dovecot/run" "$WORK/dovecot/mail"
	chown nobody:nogroup "$WORK/dovecot/mail"
	echo "alice:{PLAIN}alice" >"$WORK/dovecot/passwd"
	sed -e "s|@WORK@|$WORK|g" "$HERE/dovecot.conf" >"$WORK/dovecot.conf"
	start dovecot dovecot -F -c "$WORK/dovecot.conf"
	wait_tcp 21143
	for i in $(seq "$PAIRS"); do
		local a b
		a=$(python3 "$HERE/imapbench.py" $((OFF + 143)) "run$i") || die "IMAP against labd"
		b=$(python3 "$HERE/imapbench.py" 21143 "run$i") || die "IMAP against dovecot"
		set -- $a; local aa=$1 af=$2 ab=$3
		set -- $b; local ba=$1 bf=$2 bb=$3
		record "IMAP APPEND 10 KB (imaplib, per message)" ms down "$aa" "$ba" dovecot
		record "IMAP FETCH envelope+structure+flags+4 headers, 1,000 msgs (warm)" ms down "$af" "$bf" dovecot
		record "IMAP FETCH full bodies, 1,000 x 10 KB" ms down "$ab" "$bb" dovecot
	done
}

# More groups (run_ssh, run_smtp, run_startup, run_memory), one file each.
for f in "$HERE"/group-*.sh; do . "$f"; done

for g in $ONLY; do
	log "$g"
	"run_$g"
	[ -f "$WORK/failed" ] && exit 1
done
python3 "$HERE/table.py" "$RES" "$PAIRS"

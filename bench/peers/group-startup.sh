# Startup and idle memory (sourced by run.sh), each on a second labd with
# its own data directory (ports standard + 26000), started fresh:
#  - exec to the first HTTP response, labd against nginx (the same file);
#  - resident memory per idle IMAP connection (1,000 greeted connections,
#    not logged in) against the issue's 8 KiB target.
start_labd2() {
	[ -f "$WORK/labd2.yaml" ] && return
	mkdir -p "$WORK/labd2-data"
	sed -e "s|data_dir: .*|data_dir: $WORK/labd2-data|" -e "s|port_offset: .*|port_offset: 26000|" \
		-e "s|max_conns_per_ip: 100$|max_conns_per_ip: 1100|" "$WORK/labd.yaml" >"$WORK/labd2.yaml"
	# The first start creates the CA, host keys and demo users (seconds
	# on a loaded machine): done once here, not timed.
	python3 "$HERE/startbench.py" 26080 "$LABD" serve --config "$WORK/labd2.yaml" >/dev/null || die "labd (second instance) start"
}

run_startup() {
	start_labd2
	sed -e "s|@WORK@|$WORK|g" -e "s|127.0.0.1:21080|127.0.0.1:21081|" -e "s|nginx.pid|nginx-start.pid|" \
		-e "s|nginx-error.log|nginx-start-error.log|" "$HERE/nginx.conf" >"$WORK/nginx-start.conf"
	local reps=${STARTS:-5}
	# starts PORT CMD...: the medians of reps starts, wall and CPU ms.
	starts() {
		local i out=""
		for i in $(seq "$reps"); do out="$out,$(python3 "$HERE/startbench.py" "$@")" || die "start of $2"; done
		python3 -c "
import statistics, sys
runs = [r.split() for r in sys.argv[1].split(',') if r]
print(statistics.median(float(w) for w, _ in runs), statistics.median(float(c) for _, c in runs))" "$out"
	}
	for _ in $(seq "$PAIRS"); do
		local a b
		a=$(starts 26080 "$LABD" serve --config "$WORK/labd2.yaml")
		b=$(starts 21081 nginx -c "$WORK/nginx-start.conf" -p "$WORK")
		record "startup: exec to first HTTP response (median of $reps)" ms down "${a% *}" "${b% *}" nginx
		record "startup: CPU used until then (median of $reps)" ms down "${a#* }" "${b#* }" nginx
	done
}

run_memory() {
	start_labd2
	local n=${IDLE_CONNS:-1000}
	for _ in $(seq "$PAIRS"); do
		"$LABD" serve --config "$WORK/labd2.yaml" >"$WORK/labd2.log" 2>&1 &
		local pid=$!
		wait_tcp 26143
		local a
		a=$(python3 "$HERE/idleconns.py" 26143 "$pid" "$n") || { kill "$pid"; die "idle IMAP connections"; }
		kill "$pid"; wait "$pid" 2>/dev/null
		record "memory per idle IMAP connection ($n, RSS growth)" KiB down "$a" 8 "8 KiB target"
	done
}

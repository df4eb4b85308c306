# HTTP with the ceiling of net/http beside it (sourced by run.sh; not in the
# default ONLY list: ONLY=httpbare, or ONLY="http httpbare"). Four servers
# in rotation on the same 1 KB file, wrk -t2 -c64, keep-alive and
# Connection: close:
#  - labd and nginx, as in the http group;
#  - barehttp (bench/peers/barehttp) with -mem: a bare net/http server
#    writing the file from memory, headers prepared once: what net/http
#    itself costs, the ceiling of any server built on it;
#  - barehttp as http.FileServer: a plain Go file server (open, stat per
#    request).
# Besides req/s, each side's CPU time per request (the server process and
# its child processes, from /proc): steadier than req/s on a shared host.
# The "ceiling" rows put the bare server in labd's column against nginx.
# BAREHTTP=/path/to/barehttp uses a built binary.
run_httpbare() {
	if [ ! -f "$WORK/nginx.pid" ]; then
		mkdir -p "$WORK/nginx-tmp"
		sed -e "s|@WORK@|$WORK|g" "$HERE/nginx.conf" >"$WORK/nginx.conf"
		start nginx nginx -c "$WORK/nginx.conf" -p "$WORK"
	fi
	local bare=${BAREHTTP:-}
	if [ -z "$bare" ]; then
		(cd "$ROOT" && go build -o "$WORK/barehttp" ./bench/peers/barehttp) || die "go build barehttp"
		bare="$WORK/barehttp"
	fi
	start barefile "$bare" -listen 127.0.0.1:21180 -root "$WORK/www"
	local pid_file=${PIDS[-1]}
	start baremem "$bare" -listen 127.0.0.1:21181 -root "$WORK/www" -mem 1k.bin
	local pid_mem=${PIDS[-1]} pid_labd=${PIDS[0]}
	wait_tcp 21080
	wait_tcp 21180
	wait_tcp 21181
	local pid_nginx port
	pid_nginx=$(cat "$WORK/nginx.pid")
	for port in $((OFF + 80)) 21080 21180 21181; do
		curl -sf "http://127.0.0.1:$port/1k.bin" | cmp -s - "$WORK/www/1k.bin" || die "HTTP 1 KB file differs on port $port"
	done
	# ticks PID: CPU clock ticks of PID and its child processes (nginx's
	# workers) so far.
	ticks() {
		local p t=0 v
		for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
			v=$(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null) && t=$((t + v))
		done
		echo "$t"
	}
	local hz
	hz=$(getconf CLK_TCK)
	# side PID PORT [wrk args]: "req/s cpu-us-per-request".
	side() {
		local pid=$1 port=$2 t0 out
		shift 2
		t0=$(ticks "$pid")
		out=$(wrk -t2 -c64 -d"${DUR}s" "$@" "http://127.0.0.1:$port/1k.bin") || die "wrk against port $port"
		printf '%s\n' "$out" | awk -v t="$(($(ticks "$pid") - t0))" -v hz="$hz" '
			/^ *[0-9]+ requests in/ {n = $1}
			/Requests\/sec/ {r = $2}
			END {printf "%s %.2f\n", r, (n > 0 ? t / hz * 1e6 / n : 0)}'
	}
	local mode name hdr
	for _ in $(seq "$PAIRS"); do
		for mode in keep-alive close; do
			name="HTTP 1 KB keep-alive (wrk -t2 -c64)"
			hdr=()
			if [ "$mode" = close ]; then
				name="HTTP 1 KB Connection: close"
				hdr=(-H "Connection: close")
			fi
			local l n f m
			l=$(side "$pid_labd" $((OFF + 80)) "${hdr[@]}")
			n=$(side "$pid_nginx" 21080 "${hdr[@]}")
			f=$(side "$pid_file" 21180 "${hdr[@]}")
			m=$(side "$pid_mem" 21181 "${hdr[@]}")
			record "$name" req/s up "${l% *}" "${n% *}" nginx
			record "$name" req/s up "${l% *}" "${m% *}" "bare net/http, memory"
			record "$name" req/s up "${l% *}" "${f% *}" "bare net/http, FileServer"
			record "$name: CPU per request" us down "${l#* }" "${n#* }" nginx
			record "$name: CPU per request" us down "${l#* }" "${m#* }" "bare net/http, memory"
			record "ceiling: bare net/http (memory) in labd's column, $mode" req/s up "${m% *}" "${n% *}" nginx
			record "ceiling: bare net/http (FileServer) in labd's column, $mode" req/s up "${f% *}" "${n% *}" nginx
			record "ceiling: bare net/http (memory) in labd's column, $mode: CPU per request" us down "${m#* }" "${n#* }" nginx
		done
	done
}

# SSH against OpenSSH's sshd (sourced by run.sh): login time and an scp
# download (scp uses the SFTP protocol since OpenSSH 9). Both sides get
# the same client key: labd logs in alice, sshd a system account created
# for the run (labd-bench, shell /bin/sh: root's shell would read root's
# .bashrc on every command; password "*", not locked, for sshd without
# PAM) and removed at the end.
BENCH_USER=labd-bench
run_ssh() {
	if ! id "$BENCH_USER" >/dev/null 2>&1; then
		useradd --system --password "*" --no-create-home --home-dir "$WORK" --shell /bin/sh "$BENCH_USER" || die "useradd $BENCH_USER"
		ON_EXIT+=("userdel $BENCH_USER")
	fi
	ssh-keygen -q -t ed25519 -N '' -C bench -f "$WORK/userkey" || die "ssh-keygen"
	"$LABD" user key add --config "$WORK/labd.yaml" alice "$WORK/userkey.pub" >/dev/null || die "labd user key add"
	mkdir -p "$WORK/sshd" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$WORK/sshd/host_ed25519" || die "ssh-keygen (host key)"
	install -m 644 "$WORK/userkey.pub" "$WORK/sshd/authorized_keys"
	sed -e "s|@WORK@|$WORK|g" "$HERE/sshd_config" >"$WORK/sshd/sshd_config"
	start sshd /usr/sbin/sshd -D -e -f "$WORK/sshd/sshd_config"
	local sshd_pid=${PIDS[-1]} labd_pid=${PIDS[0]}
	wait_tcp 21022
	local opts=(-i "$WORK/userkey" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=error)
	local la=(-p $((OFF + 22)) alice@127.0.0.1) lb=(-p 21022 "$BENCH_USER@127.0.0.1")
	ssh "${opts[@]}" "${la[@]}" true || die "ssh key login to labd"
	ssh "${opts[@]}" "${lb[@]}" true || die "ssh key login to sshd"
	# logins N ARGS...: milliseconds per `ssh host true`, N in a row.
	logins() {
		local n=$1 t; shift
		t=$(now)
		for _ in $(seq "$n"); do ssh "${opts[@]}" "$@" true || die "ssh login $*"; done
		python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) * 1000 / int(sys.argv[2])))" "$(elapsed "$t")" "$n"
	}
	# scpget PORT SRC PID: MiB/s of one download, then the CPU seconds of
	# the server (PID and its descendants): its cost, which the load of a
	# shared machine does not inflate the way it does wall time.
	scpget() {
		local out
		rm -f "$WORK/ssh-got.bin"
		out=$(python3 "$HERE/cputree.py" "$3" scp -q "${opts[@]}" -P "$1" "$2" "$WORK/ssh-got.bin") || die "scp from port $1"
		cmp -s "$WORK/ssh-got.bin" "$WORK/files/big.bin" || die "scp from port $1 differs"
		python3 -c "import sys; print('%.1f %s' % ($FTP_MB / float(sys.argv[1]), sys.argv[2]))" $out
	}
	local n=${SSH_LOGINS:-10}
	for _ in $(seq "$PAIRS"); do
		local a b
		a=$(logins "$n" "${la[@]}"); b=$(logins "$n" "${lb[@]}")
		record "SSH login, key, ssh host true ($n in a row)" ms down "$a" "$b" OpenSSH
		a=$(scpget $((OFF + 22)) alice@127.0.0.1:big.bin "$labd_pid"); b=$(scpget 21022 "$BENCH_USER@127.0.0.1:$WORK/files/big.bin" "$sshd_pid")
		record "scp (SFTP) download ${FTP_MB} MiB, default cipher" MiB/s up "${a% *}" "${b% *}" OpenSSH
		record "scp download: server CPU seconds" s down "${a#* }" "${b#* }" OpenSSH
	done
}

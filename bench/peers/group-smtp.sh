# SMTP against postfix delivering into a maildir (sourced by run.sh):
# smtp-source sends the same mails to both; the time runs until every
# mail is stored (labd stores before its 250; postfix queues, then its
# virtual agent writes the maildir), and every mail is counted.
run_smtp() {
	local pf="$WORK/postfix"
	mkdir -p "$pf/etc" "$pf/queue" "$pf/data" "$pf/mail"
	chown postfix "$pf/data"
	chown nobody:nogroup "$pf/mail"
	for f in main.cf master.cf; do sed -e "s|@WORK@|$WORK|g" "$HERE/postfix/$f" >"$pf/etc/$f"; done
	postfix -c "$pf/etc" start >"$WORK/postfix.log" 2>&1 || die "postfix start (see $pf/maillog)"
	ON_EXIT+=("postfix -c '$pf/etc' stop")
	wait_tcp 21025
	local n=${SMTP_MAILS:-1000} s=${SMTP_SESSIONS:-10}
	pfcount() { find "$pf/mail/alice/new" "$pf/mail/alice/cur" -type f 2>/dev/null | wc -l; }
	labdcount() {
		python3 -c "
import imaplib, re, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1])); m.login('alice', 'alice')
print(re.search(rb'MESSAGES (\d+)', m.status('INBOX', '(MESSAGES)')[1][0]).group(1).decode()); m.logout()" $((OFF + 143))
	}
	# send PORT COUNTFN: seconds until all n mails are stored: until the
	# start of the first count that finds them all (labd's count logs in
	# over IMAP, which is not the delivery's time).
	send() {
		local before t0 tc got=0
		before=$($2)
		t0=$(now)
		smtp-source -m "$n" -s "$s" -l 10240 -f bench@peer.test -t alice@lab.test "127.0.0.1:$1" || die "smtp-source to port $1"
		for _ in $(seq 600); do
			tc=$(now)
			got=$(($($2) - before))
			[ "$got" -ge "$n" ] && break
			sleep 0.05
		done
		[ "$got" -eq "$n" ] || die "SMTP to port $1: $got of $n mails stored"
		python3 -c "import sys; print('%.4f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$tc"
	}
	rate() { python3 -c "import sys; print('%.0f' % ($n / float(sys.argv[1])))" "$1"; }
	for _ in $(seq "$PAIRS"); do
		local a b
		a=$(rate "$(send $((OFF + 25)) labdcount)"); b=$(rate "$(send 21025 pfcount)")
		record "SMTP $n x 10 KB, $s sessions (smtp-source), until stored" mails/s up "$a" "$b" postfix
	done
}

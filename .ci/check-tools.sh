#!/usr/bin/env bash
# Checks that every external client the end-to-end tests drive is installed
# WITH the capability the tests use (swaks with TLS, curl with the mail
# protocols, chromium that starts headless...). .ci/run runs it before the
# tests so that a machine missing an optional module fails here, naming the
# package to install, instead of failing deep inside a test (or skipping).
#
# It needs no Go and no labd: it can run in a fresh chroot to prove that
# .ci/run's package list is complete (see docs/ci.md).
set -uo pipefail

failed=0
ok() { printf 'ok   %-16s %s\n' "$1" "$2"; }
bad() {
	printf 'FAIL %-16s %s\n' "$1" "$2" >&2
	failed=1
}
have() { command -v "$1" >/dev/null 2>&1; }

# need NAME PACKAGE: the binary NAME must be on PATH (from PACKAGE).
need() {
	if have "$1"; then
		return 0
	fi
	bad "$1" "not on PATH: install the Debian package $2"
	return 1
}

# curl: smtp(s), pop3(s), imap(s), ftp(s), tftp, http(s) with TLS.
if need curl curl; then
	v=$(curl -V 2>&1)
	protos=$(sed -n 's/^Protocols: //p' <<<"$v")
	missing=()
	for p in http https smtp smtps pop3 pop3s imap imaps ftp ftps tftp; do
		grep -qw "$p" <<<"$protos" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		bad curl "lacks protocols ${missing[*]} (curl -V: $protos): install Debian's curl/libcurl4"
	elif ! grep -q '^Features:.*\bSSL\b' <<<"$v"; then
		bad curl "built without SSL (curl -V Features): install Debian's curl/libcurl4"
	else
		ok curl "protocols smtp pop3 imap ftp tftp http with TLS"
	fi
fi

# swaks: STARTTLS and --tlsc need Net::SSLeay and IO::Socket::SSL, which
# are only Recommends of swaks (and .ci/run installs without recommends).
if need swaks swaks; then
	sup=$(swaks --support 2>&1)
	if ! grep -q '^=== TLS supported' <<<"$sup"; then
		bad swaks "no TLS support ($(grep TLS <<<"$sup")): install libnet-ssleay-perl libio-socket-ssl-perl"
	elif ! grep -q '^=== Basic AUTH supported' <<<"$sup"; then
		bad swaks "no AUTH support ($(grep 'Basic AUTH' <<<"$sup")): install Debian's perl and swaks"
	elif ! perl -MIO::Socket::SSL -e1 2>/dev/null; then
		bad swaks "IO::Socket::SSL missing: install libio-socket-ssl-perl"
	else
		ok swaks "TLS (STARTTLS, --tlsc) and AUTH"
	fi
fi

# python3: the stdlib clients and ssl.
if need python3 python3; then
	if out=$(python3 -c 'import smtplib, poplib, imaplib, ftplib, ssl, io, email.message; ssl.create_default_context(); assert hasattr(smtplib, "SMTP_SSL") and hasattr(poplib, "POP3_SSL") and hasattr(imaplib, "IMAP4_SSL") and hasattr(ftplib, "FTP_TLS")' 2>&1); then
		ok python3 "smtplib poplib imaplib ftplib ssl"
	else
		bad python3 "stdlib clients or ssl missing: install python3 (libpython3-stdlib): $out"
	fi
fi

# chromium must start headless and render a page (as root it needs
# --no-sandbox, as in the test).
if need chromium chromium; then
	dir=$(mktemp -d)
	out=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$dir" --dump-dom 'data:text/html,<p id="x">labd-ok</p>' 2>&1)
	rm -rf "$dir"
	if grep -q 'labd-ok' <<<"$out"; then
		ok chromium "starts headless and renders a page"
	else
		bad chromium "does not start headless: $(tail -n 3 <<<"$out")"
	fi
fi

# expect drives the telnet client through a pty.
if need expect expect && need telnet telnet; then
	if out=$(timeout 20 expect -c 'spawn telnet; expect "telnet>"; send "quit\r"; expect eof' 2>&1); then
		ok expect "spawns telnet through a pty"
	else
		bad expect "cannot spawn telnet through a pty: $(tail -n 3 <<<"$out")"
	fi
fi

# ssh, sftp, scp with a password through sshpass; plink.
for b in ssh:openssh-client sftp:openssh-client scp:openssh-client sshpass:sshpass plink:putty-tools; do
	if need "${b%%:*}" "${b#*:}"; then
		ok "${b%%:*}" "present"
	fi
done
if have sshpass && ! sshpass -V >/dev/null 2>&1; then
	bad sshpass "sshpass -V fails"
fi
if have plink && ! plink -V 2>&1 | grep -qi 'plink'; then
	bad plink "plink -V does not answer: install putty-tools"
fi

# lftp with TLS (ftps via AUTH TLS).
if need lftp lftp; then
	if lftp --version 2>&1 | grep -qiE 'GnuTLS|OpenSSL'; then
		ok lftp "with TLS"
	else
		bad lftp "built without TLS: install Debian's lftp"
	fi
fi

# tftp (tftp-hpa) and atftp: two different TFTP clients.
if need tftp tftp-hpa; then
	if tftp -V 2>&1 | grep -q 'tftp-hpa'; then
		ok tftp "tftp-hpa"
	else
		bad tftp "is not tftp-hpa ($(tftp -V 2>&1 | head -n 1)): install tftp-hpa"
	fi
fi
if need atftp atftp; then
	ok atftp "present"
fi

# dig and host.
for b in dig host; do
	if need "$b" bind9-dnsutils; then
		ok "$b" "present"
	fi
done

# systemd-analyze verify of the unit file.
if need systemd-analyze systemd; then
	ok systemd-analyze "present"
fi

if ((failed)); then
	echo "check-tools: some clients the tests drive are missing or lack a capability (see FAIL lines above); add the package to .ci/run's packages list" >&2
	exit 1
fi
echo "check-tools: all clients present with the capabilities the tests use"

#!/bin/sh
# Installs the peer servers and load generators from Debian 12 packages if
# they are missing. Debian's policy-rc.d on the lab machines keeps them from
# starting at install; run.sh starts each on loopback high ports itself.
set -eu
need=""
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have nginx      || need="$need nginx-light"
have nsd        || need="$need nsd"
have named      || need="$need bind9"
have vsftpd     || need="$need vsftpd"
have in.tftpd   || need="$need tftpd-hpa"
have atftp      || need="$need atftp"
have dovecot    || need="$need dovecot-imapd"
have wrk        || need="$need wrk"
have dnsperf    || need="$need dnsperf"
have curl       || need="$need curl"
have dig        || need="$need bind9-dnsutils"
have python3    || need="$need python3"
have sshd       || need="$need openssh-server"
have ssh        || need="$need openssh-client"
have postfix    || need="$need postfix"
[ -z "$need" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
# postfix stays unconfigured as a system service: run.sh starts its own
# instance with the configuration in postfix/.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
flock /tmp/apt.lock apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends $need

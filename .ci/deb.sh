#!/usr/bin/env bash
# Builds the .deb, installs it on this (root, throwaway) CI machine over a
# conffile on shifted ports, starts labd the way the unit would, checks
# that it answers, then removes and purges it. Exits non-zero on any step
# that fails, saying which.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "deb: needs root (CI runs as root)"; exit 1; }

fail() { echo "deb: FAIL: $*" >&2; exit 1; }
deb=$(bash deploy/deb/build.sh | tail -1)
[ -f "$deb" ] || fail "build.sh made no package"
echo "deb: built $deb"
dpkg-deb --field "$deb" Package | grep -qx labd || fail "package metadata"
dpkg-deb --contents "$deb" | grep './etc/labd/labd.yaml' >/dev/null || fail "conffile missing"

# A conffile of the test's own, on ports no test uses (standard + 20000,
# below the ephemeral range), kept by --force-confold as an admin's would.
port_offset=20000
mkdir -p /etc/labd
cat > /etc/labd/labd.yaml <<YAML
server:
  data_dir: /var/lib/labd
  listen: [127.0.0.1]
  port_offset: $port_offset
YAML
dpkg -i --force-confold "$deb" || fail "dpkg -i"
trap 'pkill -u labd -x labd 2>/dev/null || true; dpkg -P labd >/dev/null 2>&1 || true' EXIT

/usr/bin/labd version | grep -q '^labd ' || fail "labd version"
getent passwd labd >/dev/null || fail "postinst did not create the labd user"
[ "$(stat -c %U:%G:%a /etc/labd/labd.yaml)" = root:labd:640 ] || fail "conffile owner/mode: $(stat -c %U:%G:%a /etc/labd/labd.yaml)"
grep -q "port_offset: $port_offset" /etc/labd/labd.yaml || fail "dpkg replaced the admin's conffile"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /usr/lib/systemd/system/labd.service || fail "systemd-analyze verify"
  # The sandboxing must not regress: exposure was 1.7 when the package came.
  exposure=$(systemd-analyze security --offline=yes /usr/lib/systemd/system/labd.service 2>/dev/null \
    | sed -n 's/.*Overall exposure level for labd.service: \([0-9.]*\).*/\1/p')
  awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 1.7) }' || fail "systemd-analyze security: exposure ${exposure:-unknown} > 1.7"
  echo "deb: unit exposure $exposure"
fi

# No systemd as PID 1 here: start it as the unit does (user labd).
runuser -u labd -- /usr/bin/labd serve --config /etc/labd/labd.yaml >/tmp/labd-deb.log 2>&1 &
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$((80 + port_offset))/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$((80 + port_offset))/" >/dev/null || { cat /tmp/labd-deb.log; fail "installed labd does not answer HTTP"; }
runuser -u labd -- /usr/bin/labd user add student1 --password s3cret --config /etc/labd/labd.yaml >/dev/null \
  || fail "labd user add as the labd user"
pkill -TERM -u labd -x labd; wait || true
echo "deb: installed labd answered on HTTP port $((80 + port_offset))"

dpkg -r labd || fail "dpkg -r"
[ -d /var/lib/labd ] || fail "remove deleted the data directory"
[ ! -e /usr/bin/labd ] || fail "remove left /usr/bin/labd"
dpkg -P labd || fail "dpkg -P"
[ ! -e /var/lib/labd ] || fail "purge kept /var/lib/labd"
trap - EXIT
echo "deb: install, start, answer, remove, purge: ok"

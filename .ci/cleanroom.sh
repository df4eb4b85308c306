#!/usr/bin/env bash
# Proves that .ci/run's package list is complete on a brand-new Debian 12:
# debootstraps a minimal bookworm (or reuses ROOT if it exists), copies
# .ci/run and .ci/check-tools.sh into it, and runs .ci/run's install step
# and capability check there (LABD_CI_TOOLS_ONLY=1 stops before Go).
# Not part of .ci/run (it downloads a system, ~5-10 min); run it by hand
# as root when the package list or a test's client changes:
#
#	sudo bash .ci/cleanroom.sh [ROOT]
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/var/tmp/labd-cleanroom}
mirror=${MIRROR:-http://deb.debian.org/debian}

if [ ! -x "$root/usr/bin/apt-get" ]; then
	command -v debootstrap >/dev/null || {
		echo "cleanroom: install debootstrap first" >&2
		exit 1
	}
	debootstrap --variant=minbase bookworm "$root" "$mirror"
fi
# Same apt sources as a stock Debian 12 machine.
cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/ci/.ci"
cp .ci/run .ci/check-tools.sh "$root/ci/.ci/"

mounted=()
cleanup() {
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do
	mount --bind "/$m" "$root/$m"
	mounted+=("$root/$m")
	# Nothing mounted below the chroot may propagate back to the host.
	mount --make-private "$root/$m"
done
# /dev/shm for chromium.
mount -t tmpfs tmpfs "$root/dev/shm" && mounted+=("$root/dev/shm")

chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	LABD_CI_TOOLS_ONLY=1 bash /ci/.ci/run

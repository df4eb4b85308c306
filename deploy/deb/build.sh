#!/usr/bin/env bash
# Builds dist/labd_VERSION_ARCH.deb with nfpm. Usage: bash deploy/deb/build.sh
# VERSION defaults to `git describe`, made Debian-friendly (starts with a digit).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
NFPM_VERSION=v2.45.2   # pinned: newer ones were not verified here

raw="${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}"
raw="${raw#v}"
case "$raw" in [0-9]*.*) ;; *) raw="0.0~git$raw" ;; esac
export VERSION="${raw//-/\~}"
export ARCH="${ARCH:-$(go env GOARCH)}"

mkdir -p "$root/dist" "$root/dist/build"
BINARY="$root/dist/build/labd"
(cd "$root" && CGO_ENABLED=0 GOARCH="$ARCH" go build -trimpath \
  -ldflags "-s -w -X main.version=$VERSION" -o "$BINARY" ./cmd/labd)

out="$root/dist/labd_${VERSION}_${ARCH}.deb"
rm -f "$out"
(cd "$here" && go run "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION" \
  package --config nfpm.yaml --packager deb --target "$out")
echo "$out"

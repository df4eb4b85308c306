#!/usr/bin/env bash
# Static checks run by .ci/run before the tests: gofmt, go vet, and
# staticcheck at a pinned version (dead code, unused fields, suspicious
# constructs). Bump STATICCHECK with the Go toolchain: a staticcheck built
# for an older Go refuses newer syntax.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
	echo "lint: not gofmt-formatted (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi

go vet ./...

gobin=$(go env GOBIN)
bin="${gobin:-$(go env GOPATH)/bin}/staticcheck"
want=${STATICCHECK##*@}
want=${want#v}
if ! "$bin" -version 2>/dev/null | grep -q "(${want})"; then
	echo "lint: installing $STATICCHECK"
	go install "$STATICCHECK"
fi
"$bin" -version
"$bin" ./...
echo "lint: gofmt, go vet and staticcheck clean"

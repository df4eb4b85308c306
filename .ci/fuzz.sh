#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for a bounded
# time. Targets are found with grep, so a new one is run without editing
# this script. A crasher makes the script fail; go test writes the input to
# testdata/fuzz/FuzzXxx/ in the package: commit it as a regression case
# once the bug is fixed (plain `go test` then replays it for ever).
#   FUZZTIME   time per target (default 10s)
#   FUZZ_ONLY  regexp of target names to run (default all)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
only="${FUZZ_ONLY:-.}"
failed=()
n=0
while IFS=: read -r file name; do
  [[ "$name" =~ $only ]] || continue
  pkg="./$(dirname "$file")/"
  n=$((n + 1))
  echo "fuzz: $name in $pkg for $fuzztime"
  out="$(mktemp)"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg" 2>&1 | tee "$out"; then
    :
  elif grep -q '^    context deadline exceeded$' "$out" && ! grep -q 'Failing input written' "$out" \
    && go test -count=1 -run "^${name}\$" "$pkg" >/dev/null; then
    # Go's fuzz coordinator (before go1.27) can report its own -fuzztime
    # deadline as a failure when a worker is mid-call as time runs out
    # (go.dev/issue/75804). A real crasher writes its input to testdata;
    # with none written and the corpus replaying clean, nothing was found.
    echo "fuzz: $name: the Go coordinator's deadline race (go.dev/issue/75804), no crasher written, corpus replays clean: not a failure"
  else
    failed+=("$name ($pkg)")
  fi
  rm -f "$out"
done < <(grep -rHoE --include='*_test.go' --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]+\(' . \
  | sed -E 's/^\.\///; s/:func (Fuzz[A-Za-z0-9_]+)\($/:\1/' | sort)

echo "fuzz: ran $n targets"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  echo "fuzz: the crashing inputs are in testdata/fuzz/<target>/ of each package; go test -run '<target>/<file>' replays one" >&2
  exit 1
fi

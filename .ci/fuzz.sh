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
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg"; then
    failed+=("$name ($pkg)")
  fi
done < <(grep -rHoE --include='*_test.go' --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]+\(' . \
  | sed -E 's/^\.\///; s/:func (Fuzz[A-Za-z0-9_]+)\($/:\1/' | sort)

echo "fuzz: ran $n targets"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  echo "fuzz: the crashing inputs are in testdata/fuzz/<target>/ of each package; go test -run '<target>/<file>' replays one" >&2
  exit 1
fi

#!/usr/bin/env bash
# PostgreSQL for the store tests: the tests start their own server
# (labtest.Postgres: initdb in a temporary directory, a loopback port, as the
# postgres user); this checks that the package gave them what they need, and
# that Debian's own cluster is not running (policy-rc.d must keep it down;
# if it did not, stop it rather than let CI depend on it).
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ] || [ ! -x "$bin/initdb" ]; then
  echo "ci: PostgreSQL server binaries missing under /usr/lib/postgresql/*/bin: install the postgresql package" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "ci: running as root, the tests run PostgreSQL as the user postgres, which does not exist" >&2
  exit 1
fi
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q ' online '; then
  echo "ci: a Debian PostgreSQL cluster is running (policy-rc.d should have kept it down); stopping it" >&2
  pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop; done
fi
echo "ci: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the store tests"

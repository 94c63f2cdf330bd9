#!/usr/bin/env bash
# Servers and browsers the tests drive for real: installed from Debian's packages when missing.
# Called by `make test` (and so by .ci/run): nothing in the suite is skipped for a missing dependency.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# PostgreSQL: the event store's at-scale engine (tests/opsmatch/test_events_postgres.py starts one).
command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
# Chromium: the console's Playwright tests drive Debian's build (Playwright's own download is not used).
test -x /usr/bin/chromium || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "installing ${need[*]} (Debian packages) for the integration tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null

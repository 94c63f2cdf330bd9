#!/usr/bin/env bash
# make test's RAM folder: creates this checkout's (recording which checkout owns it) and removes the
# folders of checkouts that no longer exist, so clean clones tested on one machine do not fill its RAM.
# Usage: prune-test-tmp.sh <checkout dir> <this checkout's test folder>
set -u
checkout="$1"
folder="$2"
mkdir -p "$folder"
printf '%s\n' "$checkout" > "$folder/.checkout"
for other in "$(dirname "$folder")"/opsmatch-tests-*; do
  [ -d "$other" ] && [ "$other" != "$folder" ] || continue
  owner=$(cat "$other/.checkout" 2>/dev/null || true)
  if [ -n "$owner" ] && [ ! -d "$owner" ]; then
    rm -rf "$other"
  fi
done

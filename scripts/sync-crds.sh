#!/bin/sh
# Keeps the chart's CRDs (charts/darkroom/crds/) identical to the top-level crds/, the single source.
# Helm installs a chart's crds/ on first install only, so the copy must be exact: the chart test
# (test/chart/crds.test.ts) compares the two byte for byte.
#
#   scripts/sync-crds.sh           copy crds/*.yaml into the chart (and drop stale copies)
#   scripts/sync-crds.sh --check   change nothing; exit 1 and name the files that differ
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
src="$root/crds"
dst="$root/charts/darkroom/crds"
check=false
[ "${1:-}" = "--check" ] && check=true

status=0
mkdir -p "$dst"
for file in "$src"/*.yaml; do
  [ -e "$file" ] || continue
  name=$(basename "$file")
  if ! cmp -s "$file" "$dst/$name"; then
    if $check; then echo "differs: charts/darkroom/crds/$name (run scripts/sync-crds.sh)"; status=1
    else cp "$file" "$dst/$name"; echo "copied crds/$name"; fi
  fi
done
for file in "$dst"/*.yaml; do
  [ -e "$file" ] || continue
  name=$(basename "$file")
  if [ ! -e "$src/$name" ]; then
    if $check; then echo "stale: charts/darkroom/crds/$name has no crds/$name (run scripts/sync-crds.sh)"; status=1
    else rm "$file"; echo "removed stale charts/darkroom/crds/$name"; fi
  fi
done
exit $status

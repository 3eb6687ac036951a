#!/usr/bin/env bash
# `npm pack` and `npm publish` run this first: it builds what the package
# ships (dist/ and the prebuild) from scratch, and fails when any of it is
# missing afterwards, so that no tarball goes out without them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Built from scratch; a failed build puts back the dist/ from before (the
# prebuild puts back its own addon and prebuilds), so that a failed pack
# leaves a working tree.
keep=$(mktemp -d)
[ -d dist ] && mv dist "$keep/dist"
restore() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -d "$keep/dist" ]; then rm -rf dist && mv "$keep/dist" dist; fi
  rm -rf "$keep"
  exit "$rc"
}
trap restore EXIT
bash scripts/prebuild.sh >&2
for f in dist/index.js dist/index.d.ts dist/testing/index.js dist/testing/index.d.ts prebuilds/linux-x64/pmem.glibc.node; do
  [ -f "$f" ] || { echo "prepack: $f is missing after the build" >&2; exit 1; }
done

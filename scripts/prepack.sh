#!/usr/bin/env bash
# `npm pack` and `npm publish` run this first: it builds what the package
# ships (dist/ and the prebuild) from scratch, and fails when any of it is
# missing afterwards, so that no tarball goes out without them.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist prebuilds
bash scripts/prebuild.sh >&2
for f in dist/index.js dist/index.d.ts dist/testing/index.js dist/testing/index.d.ts prebuilds/linux-x64/pmem.glibc.node; do
  [ -f "$f" ] || { echo "prepack: $f is missing after the build" >&2; exit 1; }
done

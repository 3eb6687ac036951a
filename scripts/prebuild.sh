#!/usr/bin/env bash
# Builds prebuilds/linux-x64/pmem.node with prebuildify (N-API, stripped).
# PMDK is linked statically (binding.gyp), so the prebuild needs only
# Debian's libndctl6 and libdaxctl1 at run time; the check below fails the
# build if any other PMDK library would be needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx --no-install prebuildify --napi --strip --target "$(node -p process.versions.node)"
out=$(ls prebuilds/linux-x64/*.node)
if ldd "$out" | grep -E 'libpmem(obj|2)?\.so' >/dev/null; then
  echo "prebuild: $out links PMDK dynamically" >&2; exit 1
fi
echo "prebuild: $out"
ldd "$out" | awk '{print "  needs " $1}' | grep -E 'ndctl|daxctl'

#!/usr/bin/env bash
# Builds prebuilds/linux-x64/pmem.glibc.node with prebuildify (N-API,
# stripped, tagged glibc so that node-gyp-build never loads it on musl).
# PMDK is linked statically (binding.gyp), so the prebuild needs only
# Debian's libndctl6 and libdaxctl1 at run time; the check below fails the
# build if any other PMDK library would be needed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything but the addon, which prebuildify builds here (in parallel: JOBS).
bash scripts/setup.sh --no-addon
# A failed build leaves the tree as it was: the addon node-gyp's rebuild
# cleans out of build/ and the prebuilds removed below come back.
keep=$(mktemp -d)
[ -f build/Release/pmem.node ] && cp -p build/Release/pmem.node "$keep/pmem.node"
[ -d prebuilds ] && mv prebuilds "$keep/prebuilds"
restore() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -f "$keep/pmem.node" ]; then mkdir -p build/Release && cp -p "$keep/pmem.node" build/Release/pmem.node; fi
    if [ -d "$keep/prebuilds" ]; then rm -rf prebuilds && mv "$keep/prebuilds" prebuilds; fi
    echo "prebuild: failed; the addon and prebuilds from before are back in place" >&2
  fi
  rm -rf "$keep"
  exit "$rc"
}
trap restore EXIT
export JOBS="${JOBS:-max}"
npx --no-install prebuildify --napi --strip --tag-libc --target "$(node -p process.versions.node)"
out=prebuilds/linux-x64/pmem.glibc.node
[ -f "$out" ] || { echo "prebuild: prebuildify wrote no $out" >&2; ls -R prebuilds >&2 || true; exit 1; }
if ldd "$out" | grep -E 'libpmem(obj|2)?\.so' >/dev/null; then
  echo "prebuild: $out links PMDK dynamically" >&2; exit 1
fi
# prebuildify moves its build out of build/Release; put the same binary back
# so that the tree stays built (node-gyp-build prefers build/Release).
mkdir -p build/Release
cp "$out" build/Release/pmem.node
echo "prebuild: $out"
ldd "$out" | awk '{print "  needs " $1}' | grep -E 'ndctl|daxctl'

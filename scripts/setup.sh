#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to a built tree, and does nothing that is
# already done: Debian's PMDK packages, npm dependencies, the addon, the
# TypeScript. `npm start`, `npm test` and `npm run bench` run it first.
# With --no-addon the addon is left to the caller (scripts/prebuild.sh,
# which builds it with prebuildify). With --bench it also installs the
# baselines bench/ measures against (bench/package.json: lmdb,
# better-sqlite3, ...), which the tests do not need.
# The addon's sources compile in parallel, one job per CPU (node-gyp reads
# JOBS), unless JOBS says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

build_addon=1
bench=0
for arg in "$@"; do
  case "$arg" in
  --no-addon) build_addon=0 ;;
  --bench) bench=1 ;;
  *) log "unknown argument '$arg' (they are --no-addon and --bench)"; exit 2 ;;
  esac
done
export JOBS="${JOBS:-max}"

# 1. Debian packages: PMDK's headers and static libraries, and pkg-config.
#    libndctl6/libdaxctl1 are what a prebuilt addon needs at run time.
#    iproute2 (`ip`): the replication fault harness puts a backup in a
#    network namespace behind a veth pair (test/89.replicate-faults).
#    strace: test/10.mapping-nochdir records the directory changes of a
#    process that loads the addon and opens mappings.
DEBS=(libpmem-dev libpmem2-dev libpmemobj-dev libndctl6 libdaxctl1 pkg-config iproute2 strace)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them)"; exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "installing ${missing[*]}"
  . scripts/apt.sh
  apt_update
  apt_install "${missing[@]}" >/dev/null
fi

# 2. npm dependencies, when node_modules is missing or older than the lock.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi

# 2b. With --bench, bench/'s own dependencies, the same way.
if [ "$bench" = 1 ]; then
  stamp=bench/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ bench/package-lock.json -nt "$stamp" ] || [ bench/package.json -nt "$stamp" ]; then
    log "npm ci in bench/"
    npm ci --prefix bench --no-audit --no-fund --loglevel=error >&2
    touch "$stamp"
  fi
fi

# 3. The addon, when any native source is newer than it. (npm ci builds it
#    through node-gyp-build unless a prebuild loads.)
addon=build/Release/pmem.node
if [ "$build_addon" = 1 ] && { [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; }; then
  if ! ls prebuilds/linux-x64/*.node >/dev/null 2>&1 || [ -f "$addon" ]; then
    log "building the addon"
    npx --no-install node-gyp rebuild >/tmp/pmem-node-gyp.log 2>&1 || { cat /tmp/pmem-node-gyp.log >&2; exit 1; }
  fi
fi

# 4. TypeScript, when any source is newer than its output.
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js 2>/dev/null | head -1)" ]; then
  log "compiling TypeScript"
  npx --no-install tsc -p tsconfig.build.json
  touch dist/index.js
fi

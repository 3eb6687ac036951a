#!/usr/bin/env bash
# Fetches Redis's own test suite from Debian's source package (the same
# version as Debian's redis-server, 7.0.15 on Debian 12), with what it needs:
# tcl8.6, and redis-tools/redis-server (redis-cli for the client tests,
# redis-server for scripts/redis-diff.js and with redis-benchmark for
# bench/serve.js). Idempotent: does
# nothing that is already done. Prints the suite's directory.
#
# Debian's apt sources list binary packages only: a deb-src entry for the
# same archive (URIs, suites and components copied from the machine's own
# sources) is added, once, to fetch the source package.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${PMEM_REDIS_CACHE:-$PWD/.cache/redis}"
log() { printf 'redis-suite: %s\n' "$*" >&2; }
. scripts/apt.sh

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "needs root (or sudo) to install Debian packages"; exit 1; }
  SUDO="sudo"
fi

DEBS=(tcl8.6 redis-tools redis-server dpkg-dev)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

src_list=/etc/apt/sources.list.d/pmem-deb-src.sources
need_update=0
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: the same entries, as source entries.
    sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src_list" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $SUDO tee /etc/apt/sources.list.d/pmem-deb-src.list >/dev/null
  else
    log "no apt sources found to add a deb-src entry for"; exit 1
  fi
  log "added a deb-src entry for the machine's Debian archive"
  need_update=1
fi
if [ ${#missing[@]} -gt 0 ] || [ $need_update -eq 1 ]; then
  apt_update
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  # redis-server is run by redis-diff.js and the bench only: it must not run as a service here.
  apt_install "${missing[@]}" >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active -q redis-server 2>/dev/null; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

suite=$(ls -d "$CACHE"/redis-7.*/ 2>/dev/null | head -1 || true)
if [ -z "$suite" ] || [ ! -x "$suite/runtest" ]; then
  mkdir -p "$CACHE"
  log "apt-get source redis into $CACHE"
  (cd "$CACHE" && apt-get source -qq redis >/dev/null 2>&1 || (cd "$CACHE" && apt-get source redis >&2))
  suite=$(ls -d "$CACHE"/redis-7.*/ | head -1)
fi
echo "${suite%/}"

#!/usr/bin/env bash
# The long crash sweep: crashTest over many seeds and random images per
# crash point (test/23), and the kill harness over 1,000 kills (test/22:
# PMEM_KILLS per crash mode, 'random' and 'persist'). Prints image counts,
# images per second and kills. Scale with the variables below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export PMEM_CRASH_SEEDS="${PMEM_CRASH_SEEDS:-20}"
export PMEM_CRASH_IMAGES="${PMEM_CRASH_IMAGES:-256}"
export PMEM_KILLS="${PMEM_KILLS:-500}"
export PMEM_TEST_DIR="${PMEM_TEST_DIR:-/dev/shm/pmem-crash-$$}"
mkdir -p "$PMEM_TEST_DIR"
trap 'rm -rf "$PMEM_TEST_DIR"' EXIT

echo "== crash sweep: $PMEM_CRASH_SEEDS seeds, $PMEM_CRASH_IMAGES random images per point, $PMEM_KILLS kills per mode"
# One worker: the rates are measured without a second suite on the other core.
npx --no-install jest --runInBand --testTimeout=7200000 "$@" test/2

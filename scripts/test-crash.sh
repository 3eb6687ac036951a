#!/usr/bin/env bash
# npm run test:crash: the long crash sweep. Every crash-simulator test and
# every kill test, scaled up:
#   - crashTest over more seeds and random images per point (the toy
#     structures of test/23, and KVStore's test/72, whose own defaults
#     already give 1,000,000 images);
#   - kill harness: 500 kills per crash mode on the toy workload (test/22),
#     1,000 on the libpmemobj list and transactions (test/54), 300 on
#     pool creates (test/54.objpool-create-kill), 1,000 random
#     plus 500 at the Nth persist on KVStore (test/73), 200 on the
#     external sort (test/87; its checkpoint's simulator test is test/86);
#   - KVStore fuzz over more images (test/74);
#   - the replicated journal's fault harness: 500 randomized faults
#     (test/89.replicate-faults; kill -9, SIGSTOP, link down, a full
#     filesystem, promotion), counts printed per fault kind.
# Prints image counts, images per second and kills. Scale with the
# variables below. Takes tens of minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export PMEM_CRASH_SEEDS="${PMEM_CRASH_SEEDS:-20}"
export PMEM_CRASH_IMAGES="${PMEM_CRASH_IMAGES:-256}"
export PMEM_KILLS="${PMEM_KILLS:-500}"
export PMEM_OBJ_KILLS="${PMEM_OBJ_KILLS:-1000}"
export PMEM_OBJ_CREATE_KILLS="${PMEM_OBJ_CREATE_KILLS:-300}"
export PMEM_KV_KILLS="${PMEM_KV_KILLS:-1000}"
export PMEM_SORT_KILLS="${PMEM_SORT_KILLS:-200}"
export PMEM_KV_CRASH_SEEDS="${PMEM_KV_CRASH_SEEDS:-400}"
export PMEM_KV_CRASH_IMAGES="${PMEM_KV_CRASH_IMAGES:-256}"
export PMEM_KV_FUZZ="${PMEM_KV_FUZZ:-50000}"
export PMEM_REPL_FAULTS="${PMEM_REPL_FAULTS:-500}"
export PMEM_TEST_DIR="${PMEM_TEST_DIR:-/dev/shm/pmem-crash-$$}"
mkdir -p "$PMEM_TEST_DIR"
trap 'rm -rf "$PMEM_TEST_DIR"' EXIT

echo "== crash sweep: $PMEM_CRASH_SEEDS seeds, $PMEM_CRASH_IMAGES random images per point;" \
  "kills: $PMEM_KILLS per mode (toy), $PMEM_OBJ_KILLS (ObjPool), $PMEM_OBJ_CREATE_KILLS (ObjPool.create), $PMEM_KV_KILLS (KVStore), $PMEM_SORT_KILLS (sort); KVStore crash: $PMEM_KV_CRASH_SEEDS seeds, $PMEM_KV_CRASH_IMAGES images per point; replication faults: $PMEM_REPL_FAULTS"
# One worker: the rates are measured without a second suite on the other core.
npx --no-install jest --runInBand --testTimeout=14400000 "$@" \
  'test/2[0-3]\.' 'test/[3-8][0-9]\..*(crash|kill|fuzz)' 'test/89\.replicate-faults'

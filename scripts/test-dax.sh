#!/usr/bin/env bash
# npm run test:dax: the suites that touch real files, run on a real fs-dax
# /dev/pmem0 inside a qemu guest (scripts/dax-vm.sh), after the DAX facts
# themselves (test/80.dax-facts.dax.test.ts). Jest's JSON result comes back
# as .test-results/dax.json. TCG runs code 5-20x slower than the host, so
# this is a subset, chosen for correctness, never for timing.
# Usage: scripts/test-dax.sh [--variant nvdimm|memmap|devdax]
#        scripts/test-dax.sh --prepare   (only the host's transpile step below;
#                                         .ci/run runs it on a CPU that is idle)
set -uo pipefail
cd "$(dirname "$0")/.."
prepare_only=0
if [ "${1:-}" = --prepare ]; then prepare_only=1; shift; fi

SUITES=(
  test/80.dax-facts.dax.test.ts   # mount is dax, is_pmem without force, cache-line, MAP_SYNC
  test/10.mapping.test.ts         # the mapping suite
  test/10.mapping-atomics.test.ts  # 8-byte atomics across processes and workers on DAX memory
  test/10.mapping-copy-ranges.test.ts  # copyRanges: streaming stores on is_pmem without force
  test/10.mapping-nochdir.test.ts  # PMDK's walk of a real nd bus (regions in it) changes no directory
  test/10.punch-hole.test.ts      # holes punched in a DAX filesystem's blocks (the sort gives run space back)
  test/12.process.test.ts
  test/11.crc32c.test.ts          # checksums on the guest's CPU (folding only where it has VPCLMULQDQ)
  test/14.seal.test.ts            # sealRecord on is_pmem without force: streaming stores
  test/30.superblock.test.ts      # Region-level structures on DAX files
  test/40.append-list.test.ts
  test/42.append-list-mp.test.ts  # SharedAppendList: producers in processes and workers at once
  test/60.wal.test.ts
  test/64.log-conformance.test.ts  # Superblock, AppendList, Wal, TxLog: the conformance suite
  test/65.txlog.test.ts
  test/50.objpool.test.ts         # libpmemobj on DAX
)
[ -f test/70.kv.test.ts ] && SUITES+=(test/70.kv.test.ts test/71.kv-conformance.test.ts)
SUITES+=(test/78.kv-readers.test.ts test/78.kv-readers-pin.test.ts test/79.kv-readers-kill.once.test.ts)  # readers beside a live writer, their pin

bash scripts/setup.sh || exit 1
mkdir -p .test-results .vm/out
# The project is read-only in the guest: jest's cache and the JSON result go
# to .vm/out, which is writable there at the same path.
out="$PWD/.vm/out"

# Under TCG a test takes many times its time on the host (and more again
# with DAX_VM_CPUS=1): jest's per-test limit is 600 s here, not the 120 s of
# jest.config.js. A test that sets its own limit keeps it.

# TypeScript is transpiled on the host first: run the same suites with the
# same configuration (PMEM_DAX_MOUNT set, so jest's config is the guest's) and
# a name pattern that matches no test, which fills jest's transform cache and
# runs nothing. Under TCG, ts-jest would otherwise spend guest time on it.
#
# In the guest, jest runs two workers (jest.config.js), as on the host: on
# two vCPUs the guest's run took 455 s with them and 496 s with one
# (--runInBand), one after the other on the same host.
PMEM_DAX_MOUNT=/mnt/pmem node_modules/.bin/jest --ci --cacheDirectory="$out/jest-cache" \
  --testNamePattern='^a test name that no test has$' --silent "${SUITES[@]}" >/dev/null 2>&1 || true
[ $prepare_only = 1 ] && exit 0
rm -f .test-results/dax.json .vm/out/dax.json .test-results/kills-dax.jsonl .vm/out/kills-dax.jsonl

start=$(date +%s)
DAX_VM_TIMEOUT=${DAX_VM_TIMEOUT:-1500} bash scripts/dax-vm.sh "$@" -- sh -c "
  export PMEM_TEST_DIR=/mnt/pmem/tests
  export PMEM_TEST_RESULTS='$out' PMEM_KILL_MODE=dax  # kill reports: the guest's tree is read-only
  export PMEM_READERS_KILLS=\${PMEM_READERS_KILLS:-2}  # test/79 under TCG (13 s a kill): fewer kills, each still checked
  exec node_modules/.bin/jest --ci --cacheDirectory='$out/jest-cache' --testTimeout=600000 \
    --json --outputFile='$out/dax.json' ${SUITES[*]}
"
status=$?
echo "test:dax: guest run took $(( $(date +%s) - start )) s, exit $status"
[ -f .vm/out/kills-dax.jsonl ] && cp .vm/out/kills-dax.jsonl .test-results/kills-dax.jsonl
if [ -f .vm/out/dax.json ]; then
  cp .vm/out/dax.json .test-results/dax.json
else
  echo "test:dax: the guest wrote no results" >&2
  [ $status -eq 0 ] && status=1
fi
exit $status

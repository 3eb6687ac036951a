#!/usr/bin/env bash
# The test suite in its two modes on /dev/shm:
#   msync  - a plain file: libpmem persists with msync;
#   forced - PMEM_IS_PMEM_FORCE=1: real CLWB+SFENCE on DRAM.
# Jest's JSON results go to .test-results/<mode>.json; .ci/run counts them.
# Extra arguments are passed to jest (a test name pattern, say).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results
rm -f .test-results/msync.json .test-results/msync-own.json .test-results/forced.json .test-results/kills-msync.jsonl .test-results/kills-forced.jsonl
export PMEM_TEST_DIR="${PMEM_TEST_DIR:-/dev/shm/pmem-test-$$}"
mkdir -p "$PMEM_TEST_DIR"
trap 'rm -rf "$PMEM_TEST_DIR"' EXIT

status=0
# Jest compiles each file on its own, without types (isolatedModules in
# tsconfig.json: ts-jest only transpiles). The types of the library, the
# tests and the benches are checked here, once, as one program.
echo "== type check (tsc -p tsconfig.json)"
npx --no-install tsc -p tsconfig.json --noEmit || status=1
echo "== pmem tests, mode msync (/dev/shm, is_pmem=0)"
if [ $# -eq 0 ]; then
  # The reader kill test runs in a jest of its own, first: in a process that
  # had run other suites, or that started just after them, its forks have
  # been refused (spawn ENOMEM) on a machine with memory to spare. Its forks
  # are tried again for a while (spawnRetrying), and a last refusal says what
  # the process held.
  env -u PMEM_IS_PMEM_FORCE npx --no-install jest --json --outputFile=.test-results/msync-own.json \
    'test/79\.kv-readers-kill\.' || status=1
  env -u PMEM_IS_PMEM_FORCE PMEM_TEST_EXCLUDE='79\.kv-readers-kill\.' npx --no-install jest --json \
    --outputFile=.test-results/msync.json || status=1
else
  env -u PMEM_IS_PMEM_FORCE npx --no-install jest --json --outputFile=.test-results/msync.json "$@" || status=1
fi
# The first pass's files are RAM on /dev/shm: freed before the second.
echo "== $(du -sh "$PMEM_TEST_DIR" | cut -f1) of test files left by the msync pass, removed"
rm -rf "${PMEM_TEST_DIR:?}" && mkdir -p "$PMEM_TEST_DIR"
echo "== pmem tests, mode forced (/dev/shm, PMEM_IS_PMEM_FORCE=1)"
PMEM_IS_PMEM_FORCE=1 npx --no-install jest --json --outputFile=.test-results/forced.json "$@" || status=1
results=(.test-results/msync.json .test-results/forced.json)
[ -f .test-results/msync-own.json ] && results+=(.test-results/msync-own.json)
node scripts/count-results.js "${results[@]}" || status=1
exit $status

#!/usr/bin/env bash
# The test suite in its two modes on /dev/shm:
#   msync  - a plain file: libpmem persists with msync;
#   forced - PMEM_IS_PMEM_FORCE=1: real CLWB+SFENCE on DRAM.
# Jest's JSON results go to .test-results/<mode>.json; .ci/run counts them.
# Extra arguments are passed to jest (a test name pattern, say).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results
rm -f .test-results/msync.json .test-results/forced.json .test-results/kills-msync.jsonl .test-results/kills-forced.jsonl
export PMEM_TEST_DIR="${PMEM_TEST_DIR:-/dev/shm/pmem-test-$$}"
mkdir -p "$PMEM_TEST_DIR"
trap 'rm -rf "$PMEM_TEST_DIR"' EXIT

status=0
echo "== pmem tests, mode msync (/dev/shm, is_pmem=0)"
env -u PMEM_IS_PMEM_FORCE npx --no-install jest --json --outputFile=.test-results/msync.json "$@" || status=1
echo "== pmem tests, mode forced (/dev/shm, PMEM_IS_PMEM_FORCE=1)"
PMEM_IS_PMEM_FORCE=1 npx --no-install jest --json --outputFile=.test-results/forced.json "$@" || status=1
node scripts/count-results.js .test-results/msync.json .test-results/forced.json || status=1
exit $status

#!/usr/bin/env bash
# test/97 with 200 kills of `pmem serve` under load (npm test runs 20).
set -euo pipefail
cd "$(dirname "$0")/.."
export PMEM_TEST_DIR="${PMEM_TEST_DIR:-/dev/shm/pmem-serve-kill-$$}"
mkdir -p "$PMEM_TEST_DIR"
trap 'rm -rf "$PMEM_TEST_DIR"' EXIT
PMEM_SERVE_KILLS="${PMEM_SERVE_KILLS:-200}" npx --no-install jest test/97.serve-kill

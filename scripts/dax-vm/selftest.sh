#!/usr/bin/env bash
# Self-test of scripts/dax-vm.sh.
#
#   scripts/dax-vm/selftest.sh [VARIANT...]      (default: nvdimm memmap devdax)
#
# Compiles two small C checks on the host into .vm/checks/ (the guest sees
# the project read-only, so nothing can be built inside it), then boots each
# variant once and verifies inside the guest that
#   - /mnt/pmem is mounted with dax=always and node runs,
#   - a MAP_SHARED_VALIDATE|MAP_SYNC mapping of a file on it succeeds,
#   - libpmem's pmem_map_file reports is_pmem=1 (no PMEM_IS_PMEM_FORCE),
#   - (devdax) /dev/daxX.Y maps with is_pmem=1,
#   - $PMEM_VM_OUT is writable and shows up on the host,
# and finally that a nonzero exit status propagates.  Prints timings.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/apt.sh"
DAX_VM=$ROOT/scripts/dax-vm.sh
SRC=$ROOT/scripts/dax-vm/checks
CHECKS=$ROOT/.vm/checks
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(nvdimm memmap devdax)
FAILED=0

build_checks() {
	if ! pkg-config --exists libpmem 2>/dev/null; then
		echo "selftest: installing libpmem-dev" >&2
		{ apt_update && apt_install libpmem-dev libpmem2-dev libpmemobj-dev pkg-config; } >/dev/null
	fi
	mkdir -p "$CHECKS"
	gcc -O2 -Wall -Werror -o "$CHECKS/map_sync" "$SRC/map_sync.c"
	# shellcheck disable=SC2046 # pkg-config output is a word list
	gcc -O2 -Wall -Werror -o "$CHECKS/is_pmem" "$SRC/is_pmem.c" \
		$(pkg-config --cflags --libs libpmem)
}

# The script the guest runs (cwd = project directory).
GUEST_SCRIPT='set -e
grep " /mnt/pmem " /proc/mounts
node -e "console.log(\"node\", process.version)"
.vm/checks/map_sync "$PMEM_DIR/map_sync"
.vm/checks/is_pmem "$PMEM_DIR/x"
if [ -n "${PMEM_DEVDAX:-}" ]; then .vm/checks/is_pmem "$PMEM_DEVDAX"; fi
echo "$$" >"$PMEM_VM_OUT/selftest"'

expect() { # expect LABEL PATTERN OUTPUT
	if grep -q -- "$2" <<<"$3"; then
		echo "  ok   $1"
	else
		echo "  FAIL $1 (no '$2' in output)"
		FAILED=1
	fi
}

run_variant() {
	local v=$1 out rc=0 t0 t1 timing
	rm -f "$ROOT/.vm/out/selftest"
	t0=$(date +%s.%N)
	out=$(DAX_VM_VERBOSE=1 "$DAX_VM" --variant "$v" -- "$GUEST_SCRIPT" 2>"$ROOT/.vm/selftest.err") || rc=$?
	t1=$(date +%s.%N)
	timing=$(grep '^dax-vm: command started' "$ROOT/.vm/selftest.err" || true)
	echo "variant $v: exit $rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1fs", b - a }')"
	echo "  ${timing#dax-vm: }"
	sed 's/^/  | /' <<<"$out"
	[ "$rc" = 0 ] || { echo "  FAIL exit status $rc"; FAILED=1; }
	expect "dax=always mount" "dax=always" "$out"
	expect "node runs" "^node v" "$out"
	expect "MAP_SYNC mmap" "^OK$" "$out"
	expect "libpmem is_pmem=1" "/mnt/pmem/x: is_pmem=1" "$out"
	if [ "$v" = devdax ]; then expect "device DAX is_pmem=1" "/dev/dax.*is_pmem=1" "$out"; fi
	if [ -s "$ROOT/.vm/out/selftest" ]; then echo "  ok   PMEM_VM_OUT written"; else
		echo "  FAIL PMEM_VM_OUT not written"; FAILED=1
	fi
}

build_checks
for v in "${VARIANTS[@]}"; do run_variant "$v"; done

rc=0
"$DAX_VM" -- sh -c 'exit 3' || rc=$?
if [ "$rc" = 3 ]; then echo "exit status: ok (3)"; else echo "exit status: FAIL (got $rc, want 3)"; FAILED=1; fi

[ "$FAILED" = 0 ] && echo "selftest: all passed" || echo "selftest: FAILED"
exit "$FAILED"

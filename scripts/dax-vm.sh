#!/usr/bin/env bash
# Run a command of this project inside a qemu guest that has a real fs-dax
# persistent-memory device (/dev/pmem0, ext4 mounted with -o dax).
#
#   scripts/dax-vm.sh [--variant nvdimm|memmap|devdax] [--project DIR] [--] COMMAND...
#
# The guest is a stock Debian kernel with a tiny busybox initramfs; it shares
# the host's / read-only over 9p and runs COMMAND chrooted into it, so the
# host's node, node_modules and native build outputs are used as they are.
# See docs/dax.md for the details.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_DIR=$SCRIPT_DIR/dax-vm

VARIANT=nvdimm
PROJECT=$(cd "$SCRIPT_DIR/.." && pwd)
. "$SCRIPT_DIR/apt.sh"
TIMEOUT=${DAX_VM_TIMEOUT:-900}
VERBOSE=${DAX_VM_VERBOSE:-0}
MEM=${DAX_VM_MEM:-2G}
CPUS=${DAX_VM_CPUS:-2}
PMEM_SIZE=1G # size of the NVDIMM images and of the memmap range
PACKAGES=(qemu-system-x86 linux-image-amd64 busybox-static ndctl e2fsprogs cpio kmod)

usage() {
	echo "usage: scripts/dax-vm.sh [--variant nvdimm|memmap|devdax] [--project DIR] [--] COMMAND..." >&2
	exit 2
}

die() {
	echo "dax-vm: $*" >&2
	exit 2
}

vlog() {
	if [ "$VERBOSE" = 1 ]; then echo "dax-vm: $*" >&2; fi
	return 0
}

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--variant | --project) [ $# -ge 2 ] || die "$1 needs an argument" ;;&
		--variant) VARIANT=$2; shift 2 ;;
		--variant=*) VARIANT=${1#*=}; shift ;;
		--project) PROJECT=$(cd "$2" && pwd) || die "no such directory: $2"; shift 2 ;;
		--project=*) PROJECT=$(cd "${1#*=}" && pwd) || die "no such directory: ${1#*=}"; shift ;;
		-h | --help) usage ;;
		--) shift; break ;;
		-*) die "unknown option $1" ;;
		*) break ;;
		esac
	done
	case "$VARIANT" in nvdimm | memmap | devdax) ;; *) die "unknown variant $VARIANT" ;; esac
	[ $# -gt 0 ] || usage
	case "$TIMEOUT" in '' | *[!0-9]*) die "DAX_VM_TIMEOUT must be a number of seconds" ;; esac
	case "$CPUS" in '' | *[!0-9]* | 0*) die "DAX_VM_CPUS must be a number of CPUs, 1 or more" ;; esac
	CMD_ARGS=("$@")
}

# Quote one word for POSIX sh (the guest runs the host's /bin/sh, i.e. dash,
# which has no $'...').
sh_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# A single argument is taken as a shell script (`-- 'npm test && x'`);
# several are quoted word by word (`-- node -e 'console.log(1)'`).
command_string() {
	if [ ${#CMD_ARGS[@]} -eq 1 ]; then
		printf '%s' "${CMD_ARGS[0]}"
		return
	fi
	local sep='' a
	for a in "${CMD_ARGS[@]}"; do
		printf '%s%s' "$sep" "$(sh_quote "$a")"
		sep=' '
	done
}

have_tools() {
	command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null &&
		command -v modprobe >/dev/null && command -v ndctl >/dev/null &&
		command -v mkfs.ext4 >/dev/null && find_kernel >/dev/null &&
		[ -x /bin/busybox ] && file_is_static /bin/busybox
}

file_is_static() {
	# The initramfs has no libc: busybox must be the static build.
	! LC_ALL=C ldd "$1" >/dev/null 2>&1
}

# Newest installed Debian kernel that also has its modules.
find_kernel() {
	local v
	for v in $(for f in /boot/vmlinuz-*; do echo "${f#/boot/vmlinuz-}"; done | sort -rV); do
		if [ -r "/boot/vmlinuz-$v" ] && [ -d "/lib/modules/$v/kernel" ]; then
			echo "$v"
			return 0
		fi
	done
	return 1
}

# Install qemu, a kernel, busybox and ndctl from apt when something is missing.
ensure_packages() {
	have_tools && return 0
	[ "$(id -u)" = 0 ] || die "qemu, a kernel image, busybox-static or ndctl missing; install: apt-get install ${PACKAGES[*]}"
	command -v apt-get >/dev/null || die "qemu or the kernel image is missing and apt-get is not available"
	echo "dax-vm: installing ${PACKAGES[*]} (once)" >&2
	mkdir -p "$VM"
	if ! { apt_update && apt_install "${PACKAGES[@]}"; } >"$VM/apt.log" 2>&1; then
		die "cannot install ${PACKAGES[*]} (see $VM/apt.log)"
	fi
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing after installing qemu-system-x86"
	find_kernel >/dev/null || die "no kernel image in /boot after installing linux-image-amd64"
	have_tools || die "busybox-static, ndctl, cpio or e2fsprogs still missing (see $VM/apt.log)"
}

# Build the initramfs (busybox, modules, init) into $VM/initramfs.cpio.
# It is rebuilt only when one of its inputs changes: kernel, module list,
# init script, busybox binary or this script.
build_initramfs() {
	local kver=$1 stamp
	stamp=$({
		# A rebuilt kernel package may keep its version string.
		echo "$kver $(stat -c %Y:%s "/boot/vmlinuz-$kver" "/lib/modules/$kver/modules.dep")"
		sha256sum "$GUEST_DIR/modules" "$GUEST_DIR/init" /bin/busybox "${BASH_SOURCE[0]}"
	} | sha256sum | cut -d' ' -f1)
	INITRAMFS=$VM/initramfs.cpio
	if [ -f "$INITRAMFS" ] && [ "$(cat "$VM/initramfs.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	vlog "building the initramfs for $kver"

	local root m path n=0
	root=$(mktemp -d "$VM/initramfs.XXXXXX")
	mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
	cp /bin/busybox "$root/bin/busybox"
	for m in $(/bin/busybox --list); do
		[ "$m" = busybox ] || ln -s busybox "$root/bin/$m"
	done
	cp "$GUEST_DIR/init" "$root/init"
	chmod 755 "$root/init"

	# Dependency order from modprobe; --ignore-install because ndctl ships an
	# "install libnvdimm" rule that would hide the module itself.
	: >"$root/lib/modules/order"
	for path in $(grep -v -e '^#' -e '^[[:space:]]*$' "$GUEST_DIR/modules" |
		while read -r m; do
			modprobe -S "$kver" --ignore-install --show-depends "$m" ||
				echo "missing-module-$m"
		done | awk '$1 == "insmod" { print $2 } $1 ~ /^missing-module-/ { print $1 }' |
		awk '!seen[$0]++'); do
		case "$path" in missing-module-*) die "kernel $kver has no module ${path#missing-module-}" ;; esac
		n=$((n + 1))
		local name
		name=$(printf '%02d-%s' "$n" "$(basename "$path")")
		# Busybox insmod cannot read compressed modules.
		case "$path" in
		*.ko.xz) name=${name%.xz}; xz -dc "$path" >"$root/lib/modules/$name" ;;
		*.ko.zst) name=${name%.zst}; zstd -qdc "$path" >"$root/lib/modules/$name" ;;
		*.ko.gz) name=${name%.gz}; gzip -dc "$path" >"$root/lib/modules/$name" ;;
		*) cp "$path" "$root/lib/modules/$name" ;;
		esac
		echo "$name" >>"$root/lib/modules/order"
	done

	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$INITRAMFS.tmp"
	mv "$INITRAMFS.tmp" "$INITRAMFS"
	echo "$stamp" >"$VM/initramfs.stamp"
	rm -rf "$root"
}

# Sparse backing files for the emulated NVDIMMs.  They keep the namespace
# configuration (fsdax/devdax info block) across boots; the file system on
# them is recreated on every boot.
ensure_image() {
	[ -f "$1" ] || truncate -s "$PMEM_SIZE" "$1"
}

# Job description for the guest's init: sh-quoted assignments it sources.
write_job() {
	rm -rf "$RUN"
	mkdir -p "$RUN" "$OUT"
	{
		echo "JOB_VARIANT=$(sh_quote "$VARIANT")"
		echo "JOB_PROJECT=$(sh_quote "$PROJECT")"
		echo "JOB_OUT=$(sh_quote "$OUT")"
		echo "JOB_PATH=$(sh_quote "$PATH")"
		echo "JOB_CMD=$(sh_quote "$(command_string)")"
	} >"$RUN/job"
	# The environment of the command; everything else is cleared.
	{
		local name
		for name in PATH CI LANG TZ ${DAX_VM_PASSENV:-}; do
			if [ -n "${!name+x}" ]; then echo "export $name=$(sh_quote "${!name}")"; fi
		done
		echo "export HOME=/tmp"
		echo "export PMEM_DIR=/mnt/pmem"
		echo "export PMEM_DAX_MOUNT=/mnt/pmem"
		echo "export PMEM_VM_OUT=$(sh_quote "$OUT")"
	} >"$RUN/env"
}

# shellcheck disable=SC2054 # qemu's option values are comma-separated
qemu_args() {
	local kver=$1 append
	# qemu option values end at a comma; a literal comma is written twice.
	local vm=${VM//,/,,} run=${RUN//,/,,} out=${OUT//,/,,}
	# The console goes to .vm/console.log, not to the user: "quiet" keeps
	# the boot fast and the log short but still records errors and panics.
	append="console=ttyS0 quiet panic=-1 rdinit=/init"
	QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp "$CPUS"
		-nodefaults -display none -no-reboot
		-kernel "/boot/vmlinuz-$kver" -initrd "$INITRAMFS"
		-device isa-debug-exit,iobase=0xf4,iosize=0x04
		# ttyS0: console -> log file; ttyS1: the command's output -> stdout
		-chardev "file,id=con,path=$vm/console.log" -serial chardev:con
		-chardev stdio,id=out,signal=off -serial chardev:out
		-virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$run,mount_tag=run,security_model=none"
		-virtfs "local,path=$out,mount_tag=out,security_model=none"
		# The project again, on its own: the guest mounts it at its own path
		# after its tmpfs mounts, so a project under /tmp stays visible.
		-virtfs "local,path=${PROJECT//,/,,},mount_tag=project,security_model=none,readonly=on,multidevs=remap")
	case "$VARIANT" in
	nvdimm | devdax)
		QEMU+=(-machine pc,nvdimm=on -m "$MEM,slots=2,maxmem=16G"
			-object "memory-backend-file,id=mem0,share=on,mem-path=$vm/pmem0.img,size=$PMEM_SIZE"
			-device nvdimm,id=nv0,memdev=mem0)
		if [ "$VARIANT" = devdax ]; then
			QEMU+=(-object "memory-backend-file,id=mem1,share=on,mem-path=$vm/devdax.img,size=$PMEM_SIZE"
				-device nvdimm,id=nv1,memdev=mem1)
		fi
		;;
	memmap)
		# Guest RAM above 4 GiB starts at 4G on the pc machine; reserve the
		# first $PMEM_SIZE of it as legacy pmem (contents lost at every boot).
		QEMU+=(-machine pc -m 5G)
		append+=" memmap=$PMEM_SIZE!4G"
		;;
	esac
	QEMU+=(-append "$append")
}

# Turn what the guest left behind into our exit status.
guest_status() {
	local qemu_rc=$1
	if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		echo "dax-vm: timed out after ${TIMEOUT}s (DAX_VM_TIMEOUT); console log: $VM/console.log" >&2
		return 124
	fi
	if [ -s "$RUN/error" ]; then
		echo "dax-vm: $(head -n1 "$RUN/error")" >&2
		return 2
	fi
	if [ -s "$RUN/rc" ]; then
		return "$(cat "$RUN/rc")"
	fi
	if [ $((qemu_rc & 1)) = 1 ]; then # isa-debug-exit without a status file
		return $((qemu_rc >> 1))
	fi
	echo "dax-vm: the guest stopped without reporting a status (qemu exit $qemu_rc); console log: $VM/console.log" >&2
	return 2
}

# Guest-side times come from the guest's uptime (kernel start = 0).
timing() {
	[ "$VERBOSE" = 1 ] && [ -s "$RUN/t_start" ] && [ -s "$RUN/t_end" ] || return 0
	local t0=$1 t1
	t1=$(date +%s.%N)
	awk -v t0="$t0" -v t1="$t1" \
		-v start="$(cut -d' ' -f1 "$RUN/t_start" 2>/dev/null)" \
		-v end="$(cut -d' ' -f1 "$RUN/t_end" 2>/dev/null)" 'BEGIN {
		printf "dax-vm: command started %.1fs after kernel start, ran %.1fs; total %.1fs\n",
			start, end - start, t1 - t0 }' >&2
}

main() {
	parse_args "$@"
	# The guest mounts its own file systems over these host directories
	# (the project itself is mounted again on top of /tmp, /run and /mnt).
	case "$PROJECT/" in
	/mnt/pmem/* | /proc/* | /sys/* | /dev/*)
		die "the project directory must not be under /mnt/pmem, /proc, /sys or /dev (hidden in the guest): $PROJECT" ;;
	esac
	VM=$PROJECT/.vm
	RUN=$VM/run
	OUT=$VM/out
	mkdir -p "$VM"
	trap 'echo "dax-vm: interrupted" >&2; exit 130' INT TERM
	# One guest per project at a time: they would share .vm/run and the
	# NVDIMM image.
	exec 9>"$VM/lock"
	if ! flock -n 9; then
		echo "dax-vm: waiting for another dax-vm run in $PROJECT" >&2
		flock 9
	fi
	ensure_packages

	local kver
	kver=$(find_kernel) || die "no kernel image in /boot (apt-get install linux-image-amd64)"
	build_initramfs "$kver"
	case "$VARIANT" in
	nvdimm) ensure_image "$VM/pmem0.img" ;;
	devdax) ensure_image "$VM/pmem0.img"; ensure_image "$VM/devdax.img" ;;
	esac
	write_job
	qemu_args "$kver"

	local t0 tail_pid='' qemu_rc=0
	t0=$(date +%s.%N)
	: >"$VM/console.log"
	if [ "$VERBOSE" = 1 ]; then
		tail -n +1 -f "$VM/console.log" >&2 &
		tail_pid=$!
	fi
	# stdin from /dev/null: qemu must not put a terminal into raw mode.
	# --foreground keeps qemu in our process group so that Ctrl-C reaches it.
	timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null || qemu_rc=$?
	if [ -n "$tail_pid" ]; then
		sleep 0.2
		kill "$tail_pid" 2>/dev/null || true
	fi
	timing "$t0"
	local rc=0
	guest_status "$qemu_rc" || rc=$?
	exit "$rc"
}

main "$@"

/*
 * The C floor for bench/persist.js: memcpy + pmem_persist (is_pmem) or
 * pmem_msync (not), at the same sizes and the same offset rotation as the
 * JavaScript side, timed with clock_gettime.
 *
 *   persist <file> <file-bytes> <iterations> <size>...
 *
 * Prints one JSON line: {"isPmem":0|1,"ns":{"<size>":ns_per_op,...}}.
 * PMEM_IS_PMEM_FORCE is read by libpmem when it loads, so the caller sets it
 * in this program's environment.
 */
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE 64

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Offsets step by the size rounded up to a cache line and wrap before the end. */
static size_t stride_of(size_t size) {
	return (size + LINE - 1) / LINE * LINE;
}

static int run(char *base, size_t maplen, int is_pmem, const char *src, size_t size, long iters,
	       double *ns_per_op) {
	size_t stride = stride_of(size);
	size_t slots = maplen / stride;
	size_t slot = 0;
	/* Untimed warm-up: the first touch of each page faults it in. */
	for (size_t i = 0; i < slots; i++) base[i * stride] = 0;
	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		char *dst = base + slot * stride;
		memcpy(dst, src, size);
		if (is_pmem) {
			pmem_persist(dst, size);
		} else if (pmem_msync(dst, size) != 0) {
			perror("pmem_msync");
			return -1;
		}
		if (++slot == slots) slot = 0;
	}
	uint64_t t1 = now_ns();
	*ns_per_op = (double)(t1 - t0) / (double)iters;
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 5) {
		fprintf(stderr, "usage: %s <file> <file-bytes> <iterations> <size>...\n", argv[0]);
		return 2;
	}
	size_t want = strtoull(argv[2], NULL, 10);
	long iters = strtol(argv[3], NULL, 10);
	size_t maplen = 0;
	int is_pmem = 0;
	char *base = pmem_map_file(argv[1], want, PMEM_FILE_CREATE, 0644, &maplen, &is_pmem);
	if (base == NULL) {
		fprintf(stderr, "pmem_map_file %s: %s\n", argv[1], pmem_errormsg());
		return 1;
	}
	char src[1 << 16];
	for (size_t i = 0; i < sizeof src; i++) src[i] = (char)(i * 131 + 7);

	printf("{\"isPmem\":%d,\"ns\":{", is_pmem);
	for (int a = 4; a < argc; a++) {
		size_t size = strtoull(argv[a], NULL, 10);
		double ns;
		if (size == 0 || size > sizeof src || stride_of(size) > maplen) {
			fprintf(stderr, "bad size %zu\n", size);
			return 2;
		}
		if (run(base, maplen, is_pmem, src, size, iters, &ns) != 0) return 1;
		printf("%s\"%zu\":%.2f", a > 4 ? "," : "", size, ns);
	}
	printf("}}\n");
	pmem_unmap(base, maplen);
	return 0;
}

/*
 * The C floor for bench/wal.js: pmem_memcpy_persist (is_pmem) or memcpy +
 * pmem_msync (not) of records of the given sizes into a mapped file, offsets
 * stepping by the size rounded up to a cache line and wrapping, timed with
 * clock_gettime. The same bytes a WAL append writes and makes durable, with
 * no header, checksum or bookkeeping, into pre-faulted memory: every page of
 * the mapping is written before timing, so it pays no page faults.
 *
 *   memcpy_persist <file> <file-bytes> <iterations> <size>[:<iterations>]...
 *
 * A size may carry its own iteration count; the others take <iterations>.
 * A caller comparing against a structure gives each size the count the
 * structure's round makes: a short run costs more per record than a long
 * one (the first milliseconds of a burst of writes are slower here), so a
 * floor measured over more records than the structure would not be the
 * same steady state.
 *
 * Prints one JSON line, wall-clock and CPU time (CLOCK_PROCESS_CPUTIME_ID):
 * {"isPmem":0|1,"ns":{"<size>":ns_per_op,...},"cpuNs":{"<size>":ns_per_op,...}}.
 */
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE 64

static uint64_t now_ns(clockid_t clock) {
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 5) {
		fprintf(stderr, "usage: memcpy_persist <file> <file-bytes> <iterations> <size>[:<iterations>]...\n");
		return 2;
	}
	size_t maplen = 0;
	int is_pmem = 0;
	char *base = pmem_map_file(argv[1], strtoull(argv[2], NULL, 10), PMEM_FILE_CREATE, 0600, &maplen, &is_pmem);
	if (base == NULL) {
		perror("pmem_map_file");
		return 1;
	}
	long iters = atol(argv[3]);
	double *cpu = calloc((size_t)argc, sizeof(double));
	printf("{\"isPmem\":%d,\"ns\":{", is_pmem);
	for (int a = 4; a < argc; a++) {
		char *rest = NULL;
		size_t size = strtoull(argv[a], &rest, 10);
		long n = *rest == ':' ? atol(rest + 1) : iters;
		if (size == 0 || n <= 0) {
			fprintf(stderr, "memcpy_persist: bad size or iteration count: %s\n", argv[a]);
			return 2;
		}
		size_t stride = (size + LINE - 1) / LINE * LINE;
		size_t slots = maplen / stride;
		char *src = malloc(size);
		memset(src, 0x61, size);
		for (size_t off = 0; off < maplen; off += 4096) base[off] = 0; /* fault every page in, untimed */
		uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (long i = 0; i < n; i++) {
			char *dst = base + (size_t)(i % (long)slots) * stride;
			if (is_pmem) {
				pmem_memcpy_persist(dst, src, size);
			} else {
				memcpy(dst, src, size);
				pmem_msync(dst, size);
			}
		}
		double ns = (double)(now_ns(CLOCK_MONOTONIC) - t0) / (double)n;
		cpu[a] = (double)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)n;
		printf("%s\"%zu\":%.1f", a > 4 ? "," : "", size, ns);
		free(src);
	}
	printf("},\"cpuNs\":{");
	for (int a = 4; a < argc; a++) printf("%s\"%zu\":%.1f", a > 4 ? "," : "", (size_t)strtoull(argv[a], NULL, 10), cpu[a]);
	printf("}}\n");
	pmem_unmap(base, maplen);
	return 0;
}

/*
 * TxLog.run's protocol written in C, as the floor of bench/tx.js's 64-byte
 * redo transaction: the one-fence redo. Into pre-faulted memory (every page
 * of the mapping is written before timing), per transaction: the record
 * (32-byte header with the sequence number, a 16-byte entry header and the
 * 64 new bytes: 112 bytes, two lines) in slot seq % 2, checksummed with
 * crc32c over header bytes 4..111, flushed and fenced (pmem_persist: the
 * commit, the one fence); then the write applied in place and its line
 * flushed, not fenced (the next transaction's fence makes it durable).
 * What it pays: a crc32c of 108 bytes, three line flushes, one fence; no
 * page faults. Where the mapping is not pmem, the two flushes are msyncs, as
 * a Mapping's are.
 *
 * usage: redo <file> <ops per round>
 * After one untimed warm-up round, it runs one timed round for each line
 * read from stdin and answers each with one JSON line:
 *   {"ns": wall-clock ns per transaction, "cpuNs": CPU ns per transaction}
 * and exits at the end of its input (one process for every round, as
 * bench/c/tx.c explains).
 */
#include <libpmem.h>
#include <nmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOT 4032 /* the slot of an 8192-byte TxLog: (8192 - 64) / 2, rounded down to lines */

static double clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c(const unsigned char *p, size_t len)
{
	uint64_t c = 0xffffffffu;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = _mm_crc32_u8(c32, *p++);
	return ~c32;
}

int main(int argc, char *argv[])
{
	if (argc != 3) {
		fprintf(stderr, "usage: redo <file> <ops>\n");
		return 2;
	}
	long ops = atol(argv[2]);
	size_t len;
	int is_pmem;
	unsigned char *base = pmem_map_file(argv[1], 1 << 20, PMEM_FILE_CREATE, 0600, &len, &is_pmem);
	if (base == NULL) {
		perror("pmem_map_file");
		return 1;
	}
	/* Pre-fault: every page written once, and the whole file made durable, untimed. */
	memset(base, 0, len);
	pmem_persist(base, len);
	unsigned char buf[64];
	memset(buf, 0x5a, sizeof(buf));
	uint64_t seq = 0;

	char line[64];
	for (int r = -1; r < 0 || fgets(line, sizeof(line), stdin) != NULL; r++) {
		long n = r < 0 ? ops / 10 + 1 : ops;
		double t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (long i = 0; i < n; i++) {
			buf[0] = (unsigned char)i;
			uint64_t target = 16384 + (uint64_t)(i % 1024) * 64;
			seq++;
			unsigned char *rec = base + 64 + (seq % 2) * SLOT;
			uint32_t zero = 0, count = 1, l = 64;
			uint64_t bytes = 16 + 64, mode = 1;
			memcpy(rec + 4, &count, 4);
			memcpy(rec + 8, &seq, 8);
			memcpy(rec + 16, &bytes, 8);
			memcpy(rec + 24, &mode, 8);
			memcpy(rec + 32, &target, 8);
			memcpy(rec + 40, &l, 4);
			memcpy(rec + 44, &zero, 4);
			memcpy(rec + 48, buf, 64);
			uint32_t crc = crc32c(rec + 4, 28 + 80);
			memcpy(rec, &crc, 4);
			if (is_pmem) {
				pmem_persist(rec, 112); /* the commit: the one fence */
				/* Applied from buf, not from the record just written back:
				 * CLWB may evict its lines (it does on AMD Zen 4), and
				 * TxLog.run applies from a copy made before the flush. */
				memcpy(base + target, buf, 64);
				pmem_flush(base + target, 64); /* fenced by the next commit */
			} else {
				/* Not pmem: a flush is an msync, durable when it returns, as Mapping does. */
				pmem_msync(rec, 112);
				memcpy(base + target, buf, 64);
				pmem_msync(base + target, 64);
			}
		}
		double per = (clock_ns(CLOCK_MONOTONIC) - t0) / n;
		double cpu = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / n;
		if (r >= 0) {
			printf("{\"ns\": %.1f, \"cpuNs\": %.1f}\n", per, cpu);
			fflush(stdout);
		}
	}
	pmem_drain();
	pmem_unmap(base, len);
	unlink(argv[1]);
	return 0;
}

/*
 * The protocol of TxLog.run written in C, as the floor for bench/wal.js's
 * 64-byte redo transaction: log the target offset, old and new bytes (176
 * bytes with the 32-byte log header), checksum, flush, fence; publish the
 * commit word with an 8-byte store and apply the write; flush both, fence;
 * retire the commit word (flushed, not fenced). Prints one JSON line:
 *   {"redo64": [ns/op per round, ...]}
 * usage: redo <file> <ops per round> <rounds>
 */
#include <libpmem.h>
#include <nmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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
	if (argc != 4) {
		fprintf(stderr, "usage: redo <file> <ops> <rounds>\n");
		return 2;
	}
	long ops = atol(argv[2]);
	int rounds = atoi(argv[3]);
	size_t len;
	int is_pmem;
	unsigned char *base = pmem_map_file(argv[1], 1 << 20, PMEM_FILE_CREATE, 0600, &len, &is_pmem);
	if (base == NULL) {
		perror("pmem_map_file");
		return 1;
	}
	memset(base, 0, len);
	pmem_persist(base, len);
	volatile uint64_t *commit = (uint64_t *)base;
	unsigned char *log = base + 64;
	unsigned char buf[64];
	memset(buf, 0x5a, sizeof(buf));
	uint64_t seq = 0;

	printf("{\"redo64\": [");
	for (int r = -1; r < rounds; r++) {
		long n = r < 0 ? ops / 10 + 1 : ops;
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			buf[0] = (unsigned char)i;
			uint64_t target = 16384 + (uint64_t)(i % 1024) * 64;
			seq++;
			unsigned char *e = log + 32;
			memcpy(e, &target, 8);
			uint32_t l = 64, zero = 0;
			memcpy(e + 8, &l, 4);
			memcpy(e + 12, &zero, 4);
			memcpy(e + 16, base + target, 64);
			memcpy(e + 80, buf, 64);
			uint32_t count = 1;
			uint64_t bytes = 144, mode = 1;
			memcpy(log + 4, &count, 4);
			memcpy(log + 8, &seq, 8);
			memcpy(log + 16, &bytes, 8);
			memcpy(log + 24, &mode, 8);
			uint32_t crc = crc32c(log + 4, 28 + 144);
			memcpy(log, &crc, 4);
			pmem_persist(log, 176);
			*commit = 2 * seq;
			memcpy(base + target, buf, 64);
			pmem_flush((void *)commit, 8);
			pmem_persist(base + target, 64);
			*commit = 2 * seq + 1;
			pmem_flush((void *)commit, 8);
		}
		double per = (now_ns() - t0) / n;
		if (r >= 0)
			printf("%s%.1f", r ? ", " : "", per);
	}
	printf("]}\n");
	pmem_unmap(base, len);
	unlink(argv[1]);
	return 0;
}

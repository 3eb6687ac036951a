/*
 * The C floor for the key-value workloads: what a durable put of one record
 * costs with nothing but memcpy + pmem_persist (is_pmem) or pmem_msync (not).
 * A record is an 8-byte header (key length, value length), the key and the
 * value, in a slot of its own rounded up to a cache line; there is no index,
 * no allocator and no log, so no real store can be faster.
 *
 *   floor <file> <records> <key-bytes> <value-bytes> <seed>
 *
 * Runs, like the JavaScript trials: fillrandom (each slot once, in a random
 * order), overwrite (each slot again, in another random order), readrandom
 * (memcpy of each value out, in a third order). Prints one JSON line:
 * {"isPmem":0|1,"ns":{"fillrandom":..,"overwrite":..,"readrandom":..}}.
 */
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE 64
#define HEADER 8

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;
static uint64_t next_random(void) {
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void shuffle(uint32_t *order, uint32_t n) {
	for (uint32_t i = 0; i < n; i++) order[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(next_random() % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

static int put_all(char *base, size_t stride, int is_pmem, const uint32_t *order, uint32_t n,
		   const char *key, uint32_t klen, const char *value, uint32_t vlen) {
	for (uint32_t i = 0; i < n; i++) {
		char *rec = base + (size_t)order[i] * stride;
		uint32_t header[2] = {klen, vlen};
		memcpy(rec, header, HEADER);
		memcpy(rec + HEADER, key, klen);
		memcpy(rec + HEADER + klen, value, vlen);
		size_t len = HEADER + klen + vlen;
		if (is_pmem) {
			pmem_persist(rec, len);
		} else if (pmem_msync(rec, len) != 0) {
			perror("pmem_msync");
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: %s <file> <records> <key-bytes> <value-bytes> <seed>\n", argv[0]);
		return 2;
	}
	uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10);
	uint32_t klen = (uint32_t)strtoul(argv[3], NULL, 10);
	uint32_t vlen = (uint32_t)strtoul(argv[4], NULL, 10);
	rng_state = strtoull(argv[5], NULL, 10) | 1;
	if (n == 0 || klen == 0 || vlen == 0) return 2;
	size_t stride = (HEADER + klen + vlen + LINE - 1) / LINE * LINE;

	size_t maplen = 0;
	int is_pmem = 0;
	char *base = pmem_map_file(argv[1], stride * n, PMEM_FILE_CREATE, 0644, &maplen, &is_pmem);
	if (base == NULL) {
		fprintf(stderr, "pmem_map_file %s: %s\n", argv[1], pmem_errormsg());
		return 1;
	}
	char *key = malloc(klen);
	char *value = malloc(vlen + 1);
	char *out = malloc(vlen + 1);
	uint32_t *order = malloc(sizeof *order * n);
	if (!key || !value || !out || !order) return 1;
	for (uint32_t i = 0; i < klen; i++) key[i] = (char)next_random();
	for (uint32_t i = 0; i < vlen; i++) value[i] = (char)next_random();

	/* Untimed: fault every page in, as a store that preallocates would. */
	for (size_t off = 0; off < maplen; off += 4096) base[off] = 0;

	double ns[3];
	for (int phase = 0; phase < 2; phase++) {
		shuffle(order, n);
		uint64_t t0 = now_ns();
		if (put_all(base, stride, is_pmem, order, n, key, klen, value, vlen) != 0) return 1;
		ns[phase] = (double)(now_ns() - t0) / n;
	}
	shuffle(order, n);
	uint64_t sum = 0;
	uint64_t t0 = now_ns();
	for (uint32_t i = 0; i < n; i++) {
		const char *rec = base + (size_t)order[i] * stride;
		uint32_t header[2];
		memcpy(header, rec, HEADER);
		memcpy(out, rec + HEADER + header[0], header[1]);
		sum += (unsigned char)out[header[1] - 1];
	}
	ns[2] = (double)(now_ns() - t0) / n;

	printf("{\"isPmem\":%d,\"check\":%llu,\"ns\":{\"fillrandom\":%.2f,\"overwrite\":%.2f,\"readrandom\":%.2f}}\n",
	       is_pmem, (unsigned long long)sum, ns[0], ns[1], ns[2]);
	pmem_unmap(base, maplen);
	return 0;
}

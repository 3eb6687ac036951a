/*
 * The C floor for the key-value workloads: what a durable put of one record
 * costs with nothing but memcpy + pmem_persist (is_pmem) or pmem_msync (not),
 * into memory faulted in beforehand (untimed), and what a get costs through
 * a DRAM hash index of KVStore's shape (bench/c/kv-index.h) and a memcpy of
 * the value. A record is KVStore's entry (an 8-byte header with the key and
 * value lengths, the key, the value) in a slot of its own rounded up to a
 * cache line; a put keeps no index and allocates nothing, so no real store
 * can put faster; the get pays the index lookup every store pays.
 *
 *   floor <file> <records> <key-bytes> <value-bytes> <seed>
 *
 * Runs, like the JavaScript trials: fillrandom (each slot once, in a random
 * order), overwrite (each slot again, in another random order), readrandom
 * (a get of each key through the index, built untimed after overwrite, in a
 * third order, after an untimed pass). Keys are distinct: random bytes with
 * the record's number in the first four. Each phase is timed whole and in
 * chunks of 1000 operations. Prints one JSON line: {"isPmem":0|1,
 * "ns":{"fillrandom":..,"overwrite":..,"readrandom":..}, "chunkNs":{...}}:
 * ns per operation over the phase, and the median of the chunks' ns per
 * operation.
 */
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv-index.h"

#define LINE 64
#define HEADER 8

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Operations per timed chunk, as bench/harness/trial.js and bench/kv.js time them. */
#define CHUNK 1000

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double median(double *v, uint32_t n) {
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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

/* Record i's key: the random bytes of `key` with i in the first four. */
static void key_of(char *out, const char *key, uint32_t klen, uint32_t i) {
	memcpy(out, key, klen);
	memcpy(out, &i, klen < 4 ? klen : 4);
}

static int put_all(char *base, size_t stride, int is_pmem, const uint32_t *order, uint32_t n,
		   const char *key, uint32_t klen, const char *value, uint32_t vlen) {
	char k[65536];
	for (uint32_t i = 0; i < n; i++) {
		char *rec = base + (size_t)order[i] * stride;
		/* KVStore's entry header: type 1, zero, key length u16, value length u32. */
		uint32_t header[2] = {1u | (klen << 16), vlen};
		key_of(k, key, klen, order[i]);
		memcpy(rec, header, HEADER);
		memcpy(rec + HEADER, k, klen);
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
	if (n == 0 || klen == 0 || klen > 4096 || vlen == 0) return 2;
	size_t stride = (HEADER + klen + vlen + LINE - 1) / LINE * LINE;

	size_t maplen = 0;
	int is_pmem = 0;
	/* Slot 0 starts a line in: the index keeps offsets, and 0 marks an empty slot. */
	char *map = pmem_map_file(argv[1], stride * (n + 1), PMEM_FILE_CREATE, 0644, &maplen, &is_pmem);
	char *base = map + LINE;
	if (map == NULL) {
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
	for (size_t off = 0; off < maplen; off += 4096) map[off] = 0;

	double ns[3], chunk_ns[3];
	uint32_t chunks = (n + CHUNK - 1) / CHUNK;
	double *per_chunk = malloc(sizeof *per_chunk * chunks);
	if (!per_chunk) return 1;
	for (int phase = 0; phase < 2; phase++) {
		shuffle(order, n);
		uint64_t t0 = now_ns();
		for (uint32_t c = 0; c < chunks; c++) {
			uint32_t from = c * CHUNK, count = n - from < CHUNK ? n - from : CHUNK;
			uint64_t c0 = now_ns();
			if (put_all(base, stride, is_pmem, order + from, count, key, klen, value, vlen) != 0) return 1;
			per_chunk[c] = (double)(now_ns() - c0) / count;
		}
		ns[phase] = (double)(now_ns() - t0) / n;
		chunk_ns[phase] = median(per_chunk, chunks);
	}
	struct kv_index index;
	if (kv_index_init(&index, (const unsigned char *)map) != 0) return 1;
	for (uint32_t i = 0; i < n; i++) {
		if (kv_index_insert(&index, (uint32_t)(LINE + (size_t)i * stride)) != 0) return 1;
	}
	shuffle(order, n);
	char *keys = malloc((size_t)n * klen);
	if (!keys) return 1;
	for (uint32_t i = 0; i < n; i++) key_of(keys + (size_t)i * klen, key, klen, order[i]);
	uint64_t sum = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t t0 = now_ns();
		for (uint32_t c = 0; c < chunks; c++) {
			uint32_t from = c * CHUNK, to = n - from < CHUNK ? n : from + CHUNK;
			uint64_t c0 = now_ns();
			for (uint32_t i = from; i < to; i++) {
				long len = kv_index_get(&index, (const unsigned char *)keys + (size_t)i * klen, klen,
							(unsigned char *)out);
				if (len != (long)vlen) {
					fprintf(stderr, "floor: get of record %u returned %ld\n", order[i], len);
					return 1;
				}
				sum += (unsigned char)out[len - 1];
			}
			per_chunk[c] = (double)(now_ns() - c0) / (to - from);
		}
		/* The second pass: the first is untimed. */
		ns[2] = (double)(now_ns() - t0) / n;
		chunk_ns[2] = median(per_chunk, chunks);
	}
	printf("{\"isPmem\":%d,\"check\":%llu,\"ns\":{\"fillrandom\":%.2f,\"overwrite\":%.2f,\"readrandom\":%.2f},"
	       "\"chunkNs\":{\"fillrandom\":%.2f,\"overwrite\":%.2f,\"readrandom\":%.2f}}\n",
	       is_pmem, (unsigned long long)sum, ns[0], ns[1], ns[2], chunk_ns[0], chunk_ns[1], chunk_ns[2]);
	pmem_unmap(map, maplen);
	return 0;
}

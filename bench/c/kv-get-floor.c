// The C floor of a KV get through a DRAM hash index of the same shape as
// lib/kv/hash-index.ts (bench/c/kv-index.h: same hash, same table, same
// probe), then a memcpy of the value out. Records
// lie in a mapped file in KVStore's record format (16-byte record header,
// 8-byte entry header, key, value, padded to 8), written untimed in a
// random order.
//
//   kv-get-floor <file> <keys> <value bytes>
//
// Keys are "k" and 15 digits, as in bench/kv.js; the keys of each timed
// phase are laid out in the order it uses them, as bench/kv.js lays out
// its own. Times gets of every key in another random order and of as many
// missing keys ("m" and 15 digits), in chunks of 1000. Then an overwrite of
// every key through the same index, in another random order: the record
// memcpy'd to the next place of a log area faulted in beforehand and
// flushed, its key's slot found (the key compared against the entry it
// held) and pointed at it, then the fence (pmem_flush, pmem_drain; or
// pmem_msync first when not pmem). That is a put's floor with the index's
// memory accesses in it, which kv-floor.c's has not. Prints one JSON line:
// {"getNs":..,"getMissNs":..,"putIndexedNs":..,"slots":..}, medians of the
// chunks' per-call times.
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv-index.h"

#define KEY 16
#define RECORD_HEADER 16
#define DATA_START 4096

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static struct kv_index index_;

static uint64_t rng = 42;
static void shuffle(uint32_t* a, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i;
  for (size_t i = n - 1; i > 0; i--) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    size_t j = rng % (i + 1);
    uint32_t t = a[i];
    a[i] = a[j], a[j] = t;
  }
}

// Median per-get ns of chunks of 1000 over the keys in `keys` (n of them, laid out in order).
static double time_gets(const char* keys, size_t n, unsigned char* out, long* sum) {
  size_t chunks = n / 1000;
  double* t = malloc(sizeof(double) * chunks);
  if (t == NULL) exit(1);
  for (size_t c = 0; c < chunks; c++) {
    double t0 = now_ns();
    for (size_t i = c * 1000; i < (c + 1) * 1000; i++) {
      long r = kv_index_get(&index_, (const unsigned char*)keys + i * KEY, KEY, out);
      *sum += r > 0 ? r + out[r - 1] : r;  // reads the copy, so that it cannot be left out
    }
    t[c] = (now_ns() - t0) / 1000;
  }
  qsort(t, chunks, sizeof(double), cmp);
  double m = t[chunks / 2];
  free(t);
  return m;
}

// Median per-put ns of chunks of 1000: an overwrite of every key, in the
// order of `order`, each record written to the log area after the n
// records (faulted in here, untimed), persisted, then indexed.
static double time_puts(unsigned char* m, int is_pmem, size_t n, size_t rec, size_t vlen, const uint32_t* order) {
  unsigned char* log = m + DATA_START + n * rec;
  for (size_t off = 0; off < n * rec; off += 4096) log[off] = 0;
  unsigned char* src = calloc(1, rec);
  char* keys = malloc(n * KEY + 1);
  size_t chunks = n / 1000;
  double* t = malloc(sizeof(double) * chunks);
  if (src == NULL || keys == NULL || t == NULL) exit(1);
  for (size_t i = 0; i < n; i++) {
    char k[KEY + 1];
    snprintf(k, sizeof k, "k%015u", order[n - 1 - i]);
    memcpy(keys + i * KEY, k, KEY);
  }
  uint32_t hdr[4] = {0, (uint32_t)(KV_ENTRY_HEADER + KEY + vlen), 1, 0};
  memcpy(src, hdr, sizeof hdr);
  src[RECORD_HEADER] = 1;
  src[RECORD_HEADER + 2] = KEY;
  uint32_t v32 = (uint32_t)vlen;
  memcpy(src + RECORD_HEADER + 4, &v32, 4);
  memset(src + RECORD_HEADER + KV_ENTRY_HEADER + KEY, 'w', vlen);
  size_t replaced = 0;
  for (size_t c = 0; c < chunks; c++) {
    double t0 = now_ns();
    for (size_t i = c * 1000; i < (c + 1) * 1000; i++) {
      unsigned char* r = log + i * rec;
      memcpy(src + RECORD_HEADER + KV_ENTRY_HEADER, keys + i * KEY, KEY);
      memcpy(r, src, rec);
      // The order KVStore's put takes: the record's lines written back,
      // the index updated while they are, then the fence.
      if (is_pmem) {
        pmem_flush(r, rec);
        replaced += kv_index_repoint(&index_, (uint32_t)(r + RECORD_HEADER - m), (const unsigned char*)keys + i * KEY, KEY) != 0;
        pmem_drain();
      } else {
        pmem_msync(r, rec);
        replaced += kv_index_repoint(&index_, (uint32_t)(r + RECORD_HEADER - m), (const unsigned char*)keys + i * KEY, KEY) != 0;
      }
    }
    t[c] = (now_ns() - t0) / 1000;
  }
  if (replaced != chunks * 1000) {
    fprintf(stderr, "kv-get-floor: %zu of %zu puts found their key\n", replaced, chunks * 1000);
    exit(1);
  }
  qsort(t, chunks, sizeof(double), cmp);
  double med = t[chunks / 2];
  free(t);
  free(keys);
  free(src);
  return med;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: kv-get-floor <file> <keys> <value bytes>\n");
    return 2;
  }
  size_t n = strtoull(argv[2], NULL, 10), vlen = strtoull(argv[3], NULL, 10);
  if (n < 1000 || vlen == 0 || vlen > 65536) {
    fprintf(stderr, "kv-get-floor: at least 1000 keys, values of 1 to 65536 bytes\n");
    return 2;
  }
  size_t rec = (RECORD_HEADER + KV_ENTRY_HEADER + KEY + vlen + 7) / 8 * 8;
  size_t len = DATA_START + 2 * n * rec, mapped;  // the records, then the overwrite's log
  if (len > UINT32_MAX) {
    fprintf(stderr, "kv-get-floor: offsets must fit 32 bits\n");
    return 2;
  }
  int is_pmem;
  unsigned char* m = pmem_map_file(argv[1], len, PMEM_FILE_CREATE, 0644, &mapped, &is_pmem);
  if (m == NULL) {
    perror("pmem_map_file");
    return 1;
  }
  if (kv_index_init(&index_, m) != 0) return 1;
  uint32_t* order = malloc(sizeof(uint32_t) * n);
  char* keys = malloc(n * KEY + 1);
  unsigned char* out = malloc(vlen);
  if (order == NULL || keys == NULL || out == NULL) return 1;

  // Untimed: the records, in a random order, and the index.
  shuffle(order, n);
  for (size_t i = 0; i < n; i++) {
    unsigned char* r = m + DATA_START + i * rec;
    memset(r, 0, rec);
    uint32_t hdr[4] = {0, (uint32_t)(KV_ENTRY_HEADER + KEY + vlen), 1, 0};
    memcpy(r, hdr, sizeof hdr);
    unsigned char* e = r + RECORD_HEADER;
    e[0] = 1;
    e[2] = KEY;
    uint32_t v32 = (uint32_t)vlen;
    memcpy(e + 4, &v32, 4);
    char k[KEY + 1];
    snprintf(k, sizeof k, "k%015u", order[i]);
    memcpy(e + KV_ENTRY_HEADER, k, KEY);
    memset(e + KV_ENTRY_HEADER + KEY, 'v', vlen);
    if (kv_index_insert(&index_, (uint32_t)(e - m)) != 0) return 1;
  }

  long sum = 0;
  shuffle(order, n);
  for (size_t i = 0; i < n; i++) {
    char k[KEY + 1];
    snprintf(k, sizeof k, "k%015u", order[i]);
    memcpy(keys + i * KEY, k, KEY);
  }
  time_gets(keys, n, out, &sum);  // untimed pass, as the JavaScript readrandom has
  double hit = time_gets(keys, n, out, &sum);
  for (size_t i = 0; i < n; i++) {
    char k[KEY + 1];
    snprintf(k, sizeof k, "m%015u", order[i]);
    memcpy(keys + i * KEY, k, KEY);
  }
  double miss = time_gets(keys, n, out, &sum);
  long want = 2 * (long)n * ((long)vlen + 'v') - (long)n;
  if (sum != want) {
    fprintf(stderr, "kv-get-floor: read %ld, expected %ld\n", sum, want);
    return 1;
  }
  double put = time_puts(m, is_pmem, n, rec, vlen, order);
  printf("{\"getNs\":%.1f,\"getMissNs\":%.1f,\"putIndexedNs\":%.1f,\"slots\":%u}\n", hit, miss, put, index_.mask + 1);
  pmem_unmap(m, mapped);
  return 0;
}

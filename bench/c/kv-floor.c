// The C floor of a durable KV put: memcpy of one record into a mapped file
// and pmem_persist (or, not pmem, pmem_msync) of it, nothing else.
//
//   kv-floor <file> <records> <record bytes>
//
// Two puts are timed, each over <records> records written one after the
// other, in chunks of 1000 (the chunks bench/kv.js times):
// - put: into pages written once before, untimed, as a store that faults
//   its log in ahead of the tail writes. This is the floor.
// - put, first touch: into fresh pages of the file, so every 4 KiB page
//   costs a page fault; for reference, it is what a log pays that does not.
// Then a read: memcpy of a random record's value, with no index (the floor
// of a get with the lookup left out; bench/c/kv-get-floor.c adds it).
// Prints one JSON line:
// {"isPmem":0|1,"putNs":..,"putMeanNs":..,"putFirstTouchNs":..,"readNs":..}
// with the medians of the chunks' per-record times.
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

// Writes records [0, n) of `rec` bytes at dst, persisting each; returns the
// median per-record time of chunks of 1000 and, in *mean, the mean.
static double put_all(char* dst, size_t n, size_t rec, int is_pmem, char* src, double* t, double* mean) {
  size_t chunks = n / 1000;
  double total = 0;
  for (size_t c = 0; c < chunks; c++) {
    double t0 = now_ns();
    for (size_t i = c * 1000; i < (c + 1) * 1000; i++) {
      src[0] = (char)i;
      memcpy(dst + i * rec, src, rec);
      if (is_pmem) pmem_persist(dst + i * rec, rec);
      else pmem_msync(dst + i * rec, rec);
    }
    t[c] = (now_ns() - t0) / 1000;
    total += t[c];
  }
  if (mean) *mean = total / chunks;
  qsort(t, chunks, sizeof(double), cmp);
  return t[chunks / 2];
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: kv-floor <file> <records> <record bytes>\n");
    return 2;
  }
  size_t n = strtoull(argv[2], NULL, 10), rec = strtoull(argv[3], NULL, 10);
  if (n < 1000 || rec == 0 || rec > 4096) {
    fprintf(stderr, "kv-floor: at least 1000 records of 1 to 4096 bytes\n");
    return 2;
  }
  size_t half = (n * rec + 4095) / 4096 * 4096, mapped;
  int is_pmem;
  char* base = pmem_map_file(argv[1], 2 * half, PMEM_FILE_CREATE, 0644, &mapped, &is_pmem);
  if (base == NULL) {
    perror("pmem_map_file");
    return 1;
  }
  char* src = malloc(rec);
  double* t = malloc(sizeof(double) * (n / 1000));
  if (src == NULL || t == NULL) return 1;
  memset(src, 'v', rec);
  // Untimed: every page of the first half written once, so the timed puts
  // there take no page fault.
  for (size_t off = 0; off < half; off += 4096) base[off] = 0;
  double mean;
  double put = put_all(base, n, rec, is_pmem, src, t, &mean);
  double first_touch = put_all(base + half, n, rec, is_pmem, src, t, NULL);

  uint32_t* perm = malloc(sizeof(uint32_t) * n);
  if (perm == NULL) return 1;
  for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  uint64_t x = 88172645463325252ull;
  for (size_t i = n - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t j = x % (i + 1);
    uint32_t tmp = perm[i];
    perm[i] = perm[j], perm[j] = tmp;
  }
  size_t vlen = rec < 100 ? rec : 100;
  char out[128];
  volatile char sink = 0;
  size_t chunks = n / 1000;
  for (size_t c = 0; c < chunks; c++) {
    double t0 = now_ns();
    for (size_t i = c * 1000; i < (c + 1) * 1000; i++) {
      memcpy(out, base + (size_t)perm[i] * rec + rec - vlen, vlen);
      sink += out[i % vlen];
    }
    t[c] = (now_ns() - t0) / 1000;
  }
  qsort(t, chunks, sizeof(double), cmp);
  printf("{\"isPmem\":%d,\"putNs\":%.1f,\"putMeanNs\":%.1f,\"putFirstTouchNs\":%.1f,\"readNs\":%.1f}\n", is_pmem, put,
         mean, first_touch, t[chunks / 2]);
  pmem_unmap(base, mapped);
  return 0;
}

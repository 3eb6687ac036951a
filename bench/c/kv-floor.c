// The C floor of a durable KV put: memcpy of one record into a mapped file
// and pmem_persist of it, nothing else. Usage: kv-floor <file> <records>
// <record bytes>. Prints "median_ns <x> mean_ns <y> is_pmem <0|1>", the
// per-record times of chunks of 1000 records (the same chunks bench/kv.js
// times).
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

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: kv-floor <file> <records> <record bytes>\n");
    return 2;
  }
  size_t n = strtoull(argv[2], NULL, 10), rec = strtoull(argv[3], NULL, 10);
  size_t len = n * rec + 4096, mapped;
  int is_pmem;
  char* dst = pmem_map_file(argv[1], len, PMEM_FILE_CREATE, 0644, &mapped, &is_pmem);
  if (dst == NULL) {
    perror("pmem_map_file");
    return 1;
  }
  char* src = malloc(rec);
  memset(src, 'v', rec);
  size_t chunks = n / 1000;
  double* t = malloc(sizeof(double) * chunks);
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
  qsort(t, chunks, sizeof(double), cmp);
  double put_median = t[chunks / 2];
  uint32_t* perm = malloc(sizeof(uint32_t) * n);
  for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  uint64_t x = 88172645463325252ull;
  for (size_t i = n - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t j = x % (i + 1);
    uint32_t tmp = perm[i];
    perm[i] = perm[j], perm[j] = tmp;
  }
  char out[128];
  volatile char sink = 0;
  for (size_t c = 0; c < chunks; c++) {
    double t0 = now_ns();
    for (size_t i = c * 1000; i < (c + 1) * 1000; i++) {
      memcpy(out, dst + (size_t)perm[i] * rec + rec - 100, 100);
      sink += out[i % 100];
    }
    t[c] = (now_ns() - t0) / 1000;
  }
  qsort(t, chunks, sizeof(double), cmp);
  printf("median_ns %.1f mean_ns %.1f is_pmem %d read_median_ns %.1f\n", put_median, total / chunks, is_pmem, t[chunks / 2]);
  pmem_unmap(dst, mapped);
  return 0;
}

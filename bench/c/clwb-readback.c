// What a read of a cache line costs right after the line was written back:
// a store to the line, then (mode 1) CLWB or (mode 2) CLFLUSHOPT, or
// (mode 0) nothing, then SFENCE, then one timed load from the same line.
// Some CPUs keep a line in the cache after CLWB and others drop it, and a
// KVStore put reads nothing of its record after the seal's flush because of
// those (lib/kv/log.ts, appendPut; docs/bench.md).
//
//   gcc -O2 -mclwb -mclflushopt -o clwb-readback bench/c/clwb-readback.c
//   ./clwb-readback
//
// Prints, per mode, the median and the 10th percentile of 20,000 loads, in
// TSC ticks (RDTSCP before and after each), over lines 97 apart in an
// 8 MiB anonymous mapping faulted in first.
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <x86intrin.h>

enum { kLines = 1 << 17, kLoads = 20000 };

static int Compare(const void* a, const void* b) {
  const uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

int main(void) {
  char* m = mmap(NULL, (size_t)kLines * 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  static uint64_t ticks[kLoads];
  const char* names[] = {"store only", "store, CLWB", "store, CLFLUSHOPT"};
  for (int mode = 0; mode < 3; mode++) {
    for (int r = 0; r < kLoads; r++) {
      char* p = m + (size_t)(r * 97 % kLines) * 64;
      p[0] = (char)r;  // the line in this core's cache, modified
      if (mode == 1) _mm_clwb(p);
      if (mode == 2) _mm_clflushopt(p);
      _mm_sfence();
      unsigned aux;
      const uint64_t t0 = __rdtscp(&aux);
      (void)*(volatile char*)(p + 8);
      ticks[r] = __rdtscp(&aux) - t0;
    }
    qsort(ticks, kLoads, sizeof ticks[0], Compare);
    printf("%-18s then SFENCE, a load of the line: median %lu TSC ticks, 10th percentile %lu\n", names[mode],
           (unsigned long)ticks[kLoads / 2], (unsigned long)ticks[kLoads / 10]);
  }
  return 0;
}

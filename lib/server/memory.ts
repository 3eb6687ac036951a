// What INFO's memory section reports. used_memory is the process's heap and
// off-heap allocations: V8's external count less the store's mapped views,
// which V8 counts there too but which are the file, not allocations (the
// file's size is pmem_file_bytes; the pages of it touched are in
// used_memory_rss). The peak is a high-water mark of used_memory, taken at
// every INFO and at every cron tick, as Redis's stat_peak_memory.
import * as fs from 'node:fs';

import { binding } from '../core/binding';

/** Bytes allocated by the process now: V8's heap, and its external memory less mapped views. */
export function usedMemory(): { used: number; rss: number; mapped: number } {
  const m = process.memoryUsage();
  const mapped = binding.mappedViewBytes();
  // A view collected but not yet finalized is out of V8's count and still in
  // the views' for a moment: never below the heap.
  return { used: m.heapUsed + Math.max(0, m.external - mapped), rss: m.rss, mapped };
}

/**
 * The resident bytes of the process's own allocations: RssAnon, which
 * leaves out the pages of mapped files (the store's, on /dev/shm or DAX,
 * are RssShmem or RssFile). The full RSS where /proc does not say.
 */
export function anonymousRss(rss: number): number {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return rss;
}

export class MemoryPeak {
  peak = 0;

  /** Takes `used` into the peak; returns it. */
  see(used: number): number {
    if (used > this.peak) this.peak = used;
    return this.peak;
  }
}

/** Bytes as Redis's bytesToHuman prints them: 1023B, 1.00K, 15.31M, 1.00G, ... */
export function human(n: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (n < 1024) return `${n}B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i]}`;
}

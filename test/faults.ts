// Deliberately broken persistence, for the broken variants the crash
// simulator must catch: a Region wrapper that skips chosen fences or trims
// chosen flushes of the structure it wraps. Stores still go straight to the
// inner region's bytes.
import type { Region } from '../lib';

export interface Faults {
  /** Drains (numbered from 1 in call order) to skip. persist() counts as flush + drain. */
  skipDrain?: (n: number) => boolean;
  /** Rewrites a flush: return the range to flush instead, or null to skip it. `bytes` are the region's. */
  flush?: (offset: number, length: number, bytes: Buffer) => [number, number] | null;
}

export function faulty(inner: Region, faults: Faults): Region {
  let drains = 0;
  const region: Region = {
    get bytes() {
      return inner.bytes;
    },
    length: inner.length,
    granularity: inner.granularity,
    flush(offset: number, length: number) {
      const range = faults.flush ? faults.flush(offset, length, inner.bytes) : [offset, length];
      if (range !== null) inner.flush(range[0], range[1]);
    },
    drain() {
      drains++;
      if (!faults.skipDrain?.(drains)) inner.drain();
    },
    persist(offset: number, length: number) {
      region.flush(offset, length);
      region.drain();
    },
  };
  return region;
}

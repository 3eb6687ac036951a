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

/**
 * Counts every violation of a crash test by kind, where a report keeps the
 * messages of only the first MAX_VIOLATIONS: the test's recover and check,
 * wrapped with watch(), count each throw under the first kind whose pattern
 * matches its message, or under 'other'.
 */
export class ViolationKinds<K extends string> {
  readonly counts: Record<K | 'other', number>;
  readonly #kinds: Array<[K, RegExp]>;

  constructor(kinds: Record<K, RegExp>) {
    this.#kinds = Object.entries(kinds) as Array<[K, RegExp]>;
    this.counts = Object.fromEntries([...this.#kinds.map(([k]) => [k, 0]), ['other', 0]]) as Record<K | 'other', number>;
  }

  /**
   * Expects every kind to have been seen, nothing else, and every violation
   * of `report` counted (a report keeps only the first messages).
   */
  expectEveryKind(report: { violationCount: number }): void {
    let sum = 0;
    for (const [k] of this.#kinds) {
      expect([k, this.counts[k] > 0]).toEqual([k, true]);
      sum += this.counts[k];
    }
    expect(this.counts.other).toBe(0);
    expect(report.violationCount).toBe(sum);
  }

  /** `fn`, counting what it throws (and throwing it on). */
  watch<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args) => {
      try {
        return fn(...args);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        this.counts[this.#kinds.find(([, re]) => re.test(message))?.[0] ?? 'other']++;
        throw e;
      }
    };
  }
}

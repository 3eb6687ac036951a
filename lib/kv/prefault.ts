// Which segments of KVStore's log have their pages faulted in, in the
// present mapping, and faulting in those that do not (docs/ARCHITECTURE.md,
// "KVStore", Prefault). log.ts decides when: at open, when it opens a
// segment, and for the segment after it, ahead of the tail.
import { populate, type Region } from '../core/region';
import type { SegmentTable } from './segments';

export class WarmSegments {
  /**
   * Per segment: 1 once its pages were faulted in, or queued to be, in the
   * present mapping (a remap starts them all cold again).
   */
  #warm = new Uint8Array(0);

  /** Every segment cold: the file was mapped again. */
  reset(): void {
    this.#warm = new Uint8Array(0);
  }

  /**
   * Faults segments [s, s + count) of `t` in from `from` bytes into s
   * (Region.populate, or with `background` Region.prefault), unless they
   * are warm already. A hint to the region: it stores nothing, so it needs
   * no ordering.
   */
  fault(region: Region, t: SegmentTable, s: number, from: number, background: boolean, count: number): void {
    if (this.#warm.length < t.count) {
      const w = new Uint8Array(t.count);
      w.set(this.#warm);
      this.#warm = w;
    }
    let cold = false;
    for (let j = s; j < s + count; j++) if (this.#warm[j] === 0) cold = true;
    if (!cold) return;
    populate(region, t.start(s) + from, count * t.size - from, background);
    this.#warm.fill(1, s, s + count);
  }
}

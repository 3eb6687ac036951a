// Damage for the fuzz tests of the log structures (test/32, 45, 68): an
// in-memory Region that bounds the reads an open may make and refuses
// flushes outside itself, and seeded damage that remembers which bytes it
// touched, so that a test can tell what the damage explains from what the
// structure made up.
import type { Region } from '../lib';

/** Thrown when an open or a walk reads more words than its bound: a hang, reported as a failure. */
export class StepBudgetExceeded extends Error {}

export interface FuzzRegion extends Region {
  /** 8-byte reads of the media so far (Buffer.readBigUInt64LE and load64). */
  steps: number;
  /** Reads allowed before StepBudgetExceeded. */
  budget: number;
}

/**
 * A Region over a copy of `image` (its own ArrayBuffer, so its words are
 * aligned) whose 8-byte reads count against `budget`: every pointer, link
 * and sequence number these structures follow is read that way, so a walk
 * that would loop fails with StepBudgetExceeded instead of timing out.
 */
export function fuzzRegion(image: Uint8Array, budget: number): FuzzRegion {
  const bytes = Buffer.alloc(image.length);
  bytes.set(image);
  const inside = (what: string, offset: number, length: number): void => {
    if (!(offset >= 0 && length >= 0 && offset + length <= bytes.length)) {
      throw new Error(`${what}(${offset}, ${length}) outside a ${bytes.length}-byte region`);
    }
  };
  const region: FuzzRegion = {
    bytes,
    length: bytes.length,
    granularity: 'byte',
    steps: 0,
    budget,
    flush: (offset, length) => inside('flush', offset, length),
    drain: () => {},
    persist: (offset, length) => inside('persist', offset, length),
    load64: (offset) => read64.call(bytes, offset),
  };
  const read64 = function (this: Buffer, offset = 0): bigint {
    if (++region.steps > region.budget) throw new StepBudgetExceeded(`more than ${region.budget} reads of 8 bytes`);
    return Buffer.prototype.readBigUInt64LE.call(this, offset);
  };
  // Own prototype, not an own property: the Buffer stays a plain view for
  // the native code and for wordsOf.
  const proto = Object.create(Object.getPrototypeOf(bytes) as object) as { readBigUInt64LE: typeof read64 };
  proto.readBigUInt64LE = read64;
  Object.setPrototypeOf(bytes, proto);
  return region;
}

/** [from, to) byte ranges. */
export type Ranges = Array<[number, number]>;

export const touches = (ranges: Ranges, from: number, to: number): boolean => ranges.some(([a, b]) => a < to && from < b);

export interface Damaged {
  image: Buffer;
  /** The bytes the damage may have changed (the region may also end early: see `image.length`). */
  ranges: Ranges;
  kind: string;
}

/**
 * One seeded damage of `base`: bit flips, a garbage run, a zeroed range,
 * a range copied from elsewhere in the image, a random aligned word, or a
 * truncation to no fewer than `minLength` bytes. Half of the damage lands
 * in `hot` (headers, links, the log area), where it matters most.
 */
export function damage(base: Buffer, random: () => number, hot: Ranges, minLength: number): Damaged {
  const n = (k: number): number => Math.floor(random() * k);
  const size = base.length;
  const at = (): number => {
    if (hot.length === 0 || random() < 0.5) return n(size);
    const [a, b] = hot[n(hot.length)];
    return a + n(b - a);
  };
  const image = Buffer.alloc(size);
  base.copy(image);
  const ranges: Ranges = [];
  const kind = n(6);
  switch (kind) {
    case 0: // bit flips
      for (let k = 1 + n(6); k > 0; k--) {
        const i = at();
        image[i] ^= 1 << n(8);
        ranges.push([i, i + 1]);
      }
      return { image, ranges, kind: 'bit flips' };
    case 1: { // garbage
      const i = at();
      const end = Math.min(size, i + 1 + n(200));
      for (let j = i; j < end; j++) image[j] = n(256);
      ranges.push([i, end]);
      return { image, ranges, kind: 'garbage' };
    }
    case 2: { // zeroed
      const i = at();
      const end = Math.min(size, i + 1 + n(600));
      image.fill(0, i, end);
      ranges.push([i, end]);
      return { image, ranges, kind: 'zeroed' };
    }
    case 3: { // copied from elsewhere in the image, line-aligned as often as not
      const line = random() < 0.5 ? 64 : 1;
      const len = 8 + n(1024);
      const from = Math.floor(n(size - len) / line) * line;
      const to = Math.floor(Math.min(at(), size - len) / line) * line;
      base.copy(image, to, from, from + len);
      ranges.push([to, to + len]);
      return { image, ranges, kind: 'copied' };
    }
    case 4: { // a random aligned word, a pointer or a length as often as not
      const i = Math.floor(at() / 8) * 8;
      if (random() < 0.5) image.writeUInt32LE(n(2 ** 32), i + 4 * n(2));
      else image.writeBigUInt64LE(BigInt(n(2 ** 32)) * BigInt(n(2 ** 32)) + BigInt(n(2 ** 32)), i);
      ranges.push([i, i + 8]);
      return { image, ranges, kind: 'word' };
    }
    default: { // truncated
      const length = minLength + n(size - minLength);
      return { image: image.subarray(0, length), ranges, kind: 'truncated' };
    }
  }
}

/** Images per file: `env` raises it (PMEM_LOG_FUZZ=100000), the default keeps `npm test` quick. */
export function imageCount(fallback: number): number {
  const v = Number(process.env.PMEM_LOG_FUZZ ?? fallback);
  return Number.isSafeInteger(v) && v > 0 ? v : fallback;
}

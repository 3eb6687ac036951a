// Hotness: exponentially decayed reference counts with a half-life counted
// in accesses, and the admission sketch for keys held by neither tier.
import { randomBytes } from 'node:crypto';

/** Scores are rescaled by this factor when the increment grows past its inverse. */
const REBASE = 2 ** -512;

/**
 * A clock of accesses and the weight of one access now. An entry's score is
 * `sum over its accesses a of 2^(a / halfLife)`, so its decayed count now is
 * `score / weight()`: every access counts 1 and halves every `halfLife`
 * accesses. Scores of different entries compare directly, and a touch is
 * one addition: the weight grows by a constant ratio per access. When the
 * weight nears the top of the double range, every score (each tier hands
 * its array in `onRebase`) and the weight are multiplied by 2^-512, which
 * keeps every comparison as it was.
 */
export class Hotness {
  readonly halfLife: number;
  /** Accesses counted since the cache was opened. */
  clock = 0;
  #weight = 1;
  readonly #ratio: number;
  readonly #scaled: Float64Array[] = [];

  constructor(halfLife: number) {
    this.halfLife = halfLife;
    this.#ratio = 2 ** (1 / halfLife);
  }

  /** Registers a score array to be rescaled with the weight. */
  track(scores: Float64Array): void {
    this.#scaled.push(scores);
  }

  /** Replaces a tracked array (a tier that grew its arrays). */
  retrack(old: Float64Array, scores: Float64Array): void {
    const i = this.#scaled.indexOf(old);
    if (i >= 0) this.#scaled[i] = scores;
    else this.#scaled.push(scores);
  }

  /** The weight of one access now (what a touch adds to a score). */
  weight(): number {
    return this.#weight;
  }

  /**
   * Counts one access and returns its weight, on the scale of the scores
   * as they are after the call: when this touch rescales them, the weight
   * is rescaled too (unscaled, it would count 2^512 accesses). A caller
   * reads the score it adds it to after the call, not before.
   */
  touch(): number {
    const w = this.#weight;
    this.clock++;
    this.#weight = w * this.#ratio;
    if (this.#weight > 1 / REBASE) {
      this.#rebase();
      return w * REBASE;
    }
    return w;
  }

  /** A score for a decayed count `count` as of now (to bring a persisted count back). */
  scoreOf(count: number): number {
    return count * this.#weight;
  }

  /** The decayed count now of `score`. */
  countOf(score: number): number {
    return score / this.#weight;
  }

  #rebase(): void {
    this.#weight *= REBASE;
    for (const s of this.#scaled) for (let i = 0; i < s.length; i++) s[i] *= REBASE;
  }
}

/**
 * The sketch's hash seed, drawn once per process and never stored: keys
 * crafted to share a hash under the unseeded FNV-1a (found in seconds)
 * would share every counter of the sketch, and so make a key the cache
 * should refuse look as often used as one it holds.
 */
const SKETCH_SEED = randomBytes(4).readInt32LE(0);

/** 32-bit FNV-1a of a string's UTF-16 code units, from a seeded basis. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5 ^ SKETCH_SEED;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Decayed access counts of keys held by neither tier, approximately: a
 * count-min sketch of four rows whose counters are all halved every
 * `halfLife` accesses of the cache's clock (TinyLFU's reset, on the same
 * clock and half-life as the scores, so that its counts and the scores'
 * decayed counts compare). It answers "how often was this key asked for
 * lately" for a key the cache does not hold, which is what admission
 * compares with the coldest entries of the DRAM tier; collisions can only
 * raise an estimate, and it costs nothing per key.
 */
export class FrequencySketch {
  readonly #table: Uint8Array;
  readonly #mask: number;
  readonly #halfLife: number;
  #halvedAt = 0;

  /**
   * `width` one-byte counters per row (they saturate at 255), rounded up to
   * a power of two, at most 2^22: 16 MiB for the four rows.
   */
  constructor(width: number, halfLife: number) {
    let w = 64;
    while (w < width && w < 2 ** 22) w *= 2;
    this.#table = new Uint8Array(w * 4);
    this.#mask = w - 1;
    this.#halfLife = halfLife;
  }

  /** Halves every counter once per `halfLife` accesses since the last halving. */
  #decay(clock: number): void {
    const periods = Math.floor((clock - this.#halvedAt) / this.#halfLife);
    if (periods <= 0) return;
    this.#halvedAt += periods * this.#halfLife;
    const f = 2 ** -Math.min(periods, 8);
    const t = this.#table;
    // A store into a Uint8Array truncates: halving rounds down.
    for (let i = 0; i < t.length; i++) t[i] *= f;
  }

  #slot(h: number, r: number): number {
    const h2 = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    return r * (this.#mask + 1) + ((h + r * h2) & this.#mask);
  }

  /**
   * Records one access of the key with hash `h` at `clock`, by conservative
   * update: only the counters at the key's current minimum are raised, so a
   * burst of keys seen once (a scan) inflates other keys' estimates far
   * less than raising all four would.
   */
  add(h: number, clock: number): void {
    this.#decay(clock);
    const t = this.#table;
    const min = Math.min(255, this.estimate(h, clock) + 1);
    for (let r = 0; r < 4; r++) {
      const i = this.#slot(h, r);
      if (t[i] < min) t[i] = min;
    }
  }

  /** Raises the key's counters to at least `count` (a key leaving the cache keeps its history). */
  remember(h: number, count: number, clock: number): void {
    this.#decay(clock);
    const c = Math.min(255, Math.round(count));
    for (let r = 0; r < 4; r++) {
      const i = this.#slot(h, r);
      if (this.#table[i] < c) this.#table[i] = c;
    }
  }

  /** The key's decayed count at `clock`, at most over-estimated by collisions. */
  estimate(h: number, clock: number): number {
    this.#decay(clock);
    let min = Infinity;
    for (let r = 0; r < 4; r++) {
      const v = this.#table[this.#slot(h, r)];
      if (v < min) min = v;
    }
    return min;
  }

  clear(): void {
    this.#table.fill(0);
  }
}

// The DRAM tier: the hot entries, as decoded values, with their hotness
// scores; the victim of an eviction is the coldest of a few sampled entries.

/** Entries sampled to choose a victim (Redis samples 5 for its LFU; 8 comes closer to exact). */
const SAMPLES = 8;

/**
 * Entries in parallel arrays indexed by a dense position 0..count-1 (a
 * removal moves the last entry into the hole), so that sampling is a random
 * index and a hit touches one Map lookup and one number.
 */
export class DramTier {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly index = new Map<string, number>();
  keys: string[] = [];
  /** What `get` returns. */
  values: unknown[] = [];
  /** Encoded bytes of a dirty entry (the value as set, read once), null when clean. */
  dirty: (Buffer | null)[] = [];
  /**
   * The encoding tag of each entry's dirty bytes: the cache's own, or, for
   * bytes copied from an evicted slot, that slot's, which a cache reopened
   * with another encoding reads and writes back as they were.
   */
  tags: number[] = [];
  score: Float64Array;
  expiry: Float64Array;
  /** Encoded size of each entry's value. */
  sizes: Float64Array;
  count = 0;
  /** Sum of the keys' and values' encoded sizes. */
  bytes = 0;
  dirtyCount = 0;
  #rng = 0x2545f491;

  constructor(maxEntries: number, maxBytes: number) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    // Grown as entries come (#grow): a bound of 2^27 entries allocated
    // up front would be 3 GiB of arrays for a cache that may hold a few.
    const n = Math.min(maxEntries + 1, 1024);
    this.score = new Float64Array(n);
    this.expiry = new Float64Array(n);
    this.sizes = new Float64Array(n);
  }

  /** Whether one more entry of `bytes` bytes would exceed a bound. */
  full(bytes: number): boolean {
    return this.count + 1 > this.maxEntries || this.bytes + bytes > this.maxBytes;
  }

  /** Adds an entry; the caller made room. Returns its position. */
  add(key: string, value: unknown, dirty: Buffer | null, tag: number, size: number, score: number, expiry: number): number {
    const i = this.count++;
    if (i >= this.score.length) this.#grow();
    this.index.set(key, i);
    this.keys[i] = key;
    this.values[i] = value;
    this.dirty[i] = dirty;
    this.tags[i] = tag;
    if (dirty !== null) this.dirtyCount++;
    this.score[i] = score;
    this.expiry[i] = expiry;
    this.sizes[i] = size;
    this.bytes += size;
    return i;
  }

  /** Replaces the value at position `i`. */
  update(i: number, value: unknown, dirty: Buffer | null, tag: number, size: number, expiry: number): void {
    if (this.dirty[i] !== null) this.dirtyCount--;
    if (dirty !== null) this.dirtyCount++;
    this.values[i] = value;
    this.dirty[i] = dirty;
    this.tags[i] = tag;
    this.bytes += size - this.sizes[i];
    this.sizes[i] = size;
    this.expiry[i] = expiry;
  }

  /** Marks position `i` clean (its value is on PMem now). */
  clean(i: number): void {
    if (this.dirty[i] !== null) this.dirtyCount--;
    this.dirty[i] = null;
  }

  /** Removes the entry at position `i` (the last entry moves into it). */
  remove(i: number): void {
    this.index.delete(this.keys[i]);
    if (this.dirty[i] !== null) this.dirtyCount--;
    this.bytes -= this.sizes[i];
    const last = --this.count;
    if (i !== last) {
      this.keys[i] = this.keys[last];
      this.values[i] = this.values[last];
      this.dirty[i] = this.dirty[last];
      this.tags[i] = this.tags[last];
      this.score[i] = this.score[last];
      this.expiry[i] = this.expiry[last];
      this.sizes[i] = this.sizes[last];
      this.index.set(this.keys[i], i);
    }
    this.values[last] = undefined;
    this.dirty[last] = null;
    this.keys.length = last;
    this.tags.length = last;
  }

  /** The position of an expired entry among a few sampled, else of the coldest of them; -1 when empty. */
  victim(now: number): number {
    let victim = -1;
    let min = Infinity;
    const n = this.count;
    for (let k = 0; k < SAMPLES && k < n; k++) {
      this.#rng ^= this.#rng << 13;
      this.#rng ^= this.#rng >>> 17;
      this.#rng ^= this.#rng << 5;
      const i = (this.#rng >>> 0) % n;
      const e = this.expiry[i];
      if (e !== 0 && e <= now) return i;
      if (this.score[i] < min) {
        min = this.score[i];
        victim = i;
      }
    }
    return victim;
  }

  clear(): void {
    this.index.clear();
    this.keys = [];
    this.values = [];
    this.dirty = [];
    this.tags = [];
    this.count = 0;
    this.bytes = 0;
    this.dirtyCount = 0;
  }

  /** Called with the old and new score arrays when they grow. */
  onGrow: (old: Float64Array, now: Float64Array) => void = () => {};

  #grow(): void {
    const n = this.score.length * 2;
    const old = this.score;
    const grow = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.score = grow(this.score);
    this.expiry = grow(this.expiry);
    this.sizes = grow(this.sizes);
    this.onGrow(old, this.score);
  }
}

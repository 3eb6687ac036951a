// The DRAM index of KVStore: a hash map from key to the offset of its
// entry in the region, and a key order for range scans that is rebuilt
// lazily. Keys are held as one-byte ("latin1") strings of the key bytes, so
// that JavaScript's string order is the keys' byte order.

/** Bounds of a range scan, as one-byte key strings. */
export interface IndexRange {
  lower?: string;
  lowerInclusive: boolean;
  upper?: string;
  upperInclusive: boolean;
  prefix?: string;
  reverse: boolean;
}

export class KvIndex {
  /** Key → region offset of the key's current entry. */
  readonly map = new Map<string, number>();
  /** Keys in byte order; may hold keys deleted since (filtered on read). */
  #sorted: string[] = [];
  /** Keys added since `#sorted` was built, in no order. */
  #added: string[] = [];
  #deletedSinceSort = 0;

  get size(): number {
    return this.map.size;
  }

  get(key: string): number | undefined {
    return this.map.get(key);
  }

  /** Points `key` at `offset`; returns the offset it pointed at before. */
  set(key: string, offset: number): number | undefined {
    const prev = this.map.get(key);
    if (prev === undefined) this.#added.push(key);
    this.map.set(key, offset);
    return prev;
  }

  /** Removes `key`; returns the offset it pointed at. */
  delete(key: string): number | undefined {
    const prev = this.map.get(key);
    if (prev !== undefined) {
      this.map.delete(key);
      this.#deletedSinceSort++;
    }
    return prev;
  }

  clear(): void {
    this.map.clear();
    this.#sorted = [];
    this.#added = [];
    this.#deletedSinceSort = 0;
  }

  /**
   * Every key, in byte order. Merges the keys added since the last call
   * into the sorted array (O(n + a log a)) and drops deleted ones. The
   * returned array is never mutated afterwards, so iterators may hold it.
   */
  sorted(): string[] {
    if (this.#added.length === 0 && this.#deletedSinceSort === 0) return this.#sorted;
    const map = this.map;
    const added = this.#added.filter((k) => map.has(k)).sort();
    const old = this.#sorted;
    const out: string[] = new Array(map.size);
    let i = 0;
    let j = 0;
    let n = 0;
    let last: string | undefined;
    while (i < old.length || j < added.length) {
      let k: string;
      if (j >= added.length || (i < old.length && old[i] <= added[j])) k = old[i++];
      else k = added[j++];
      if (k === last || !map.has(k)) continue;
      out[n++] = k;
      last = k;
    }
    out.length = n;
    this.#sorted = out;
    this.#added = [];
    this.#deletedSinceSort = 0;
    return out;
  }

  /** Keys inside the range, in order (reverse order with `reverse`). */
  *range(r: IndexRange): IterableIterator<string> {
    const keys = this.sorted();
    let lo = 0;
    let hi = keys.length; // exclusive
    let lower = r.lower;
    let lowerInclusive = r.lowerInclusive;
    if (r.prefix !== undefined && (lower === undefined || lower < r.prefix)) {
      lower = r.prefix;
      lowerInclusive = true;
    }
    if (lower !== undefined) lo = lowerInclusive ? lowerBound(keys, lower) : upperBound(keys, lower);
    if (r.upper !== undefined) hi = r.upperInclusive ? upperBound(keys, r.upper) : lowerBound(keys, r.upper);
    if (r.prefix !== undefined) hi = Math.min(hi, prefixEnd(keys, r.prefix, lo));
    if (r.reverse) {
      for (let i = hi - 1; i >= lo; i--) if (this.map.has(keys[i])) yield keys[i];
    } else {
      for (let i = lo; i < hi; i++) if (this.map.has(keys[i])) yield keys[i];
    }
  }
}

/** First index whose key is >= k. */
function lowerBound(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > k. */
function upperBound(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] <= k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index at or after `from` whose key does not start with `prefix`. */
function prefixEnd(keys: string[], prefix: string, from: number): number {
  let lo = from;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid].startsWith(prefix)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

import type { NativeLock } from '../core/binding';
import { checkOpen, closedError, PmemError } from '../core/errors';
import type { Mapping } from '../core/mapping';
import type { Region } from '../core/region';
import { DramTier } from './dram-tier';
import { type CacheEncoding, ENCODING_TAG, TAG_ENCODING, checkKey, decodeValue, encodeValue } from './encoding';
import { openCacheFile } from './file';
import { cacheHooks } from './hooks';
import { MAX_ENTRIES } from './pmem-format';
import { FrequencySketch, Hotness, hashKey } from './hotness';
import { type TieredCacheOptions, type TieredCacheStats, type WriteMode, checkCacheOptions, setTtl } from './options';
import { S_KEY } from './pmem-format';
import { PmemTier } from './pmem-tier';
import { CacheCounters, statsOf } from './stats';

/**
 * A cache with a hot tier in DRAM and a warm tier on persistent memory that
 * survives a restart. See docs/api.md (TieredCache) and docs/durability.md
 * (demotion).
 *
 * Hotness is a reference count decayed by half every `halfLife` accesses.
 * DRAM keeps the hottest entries: a candidate for DRAM (a new key, or a hit
 * on PMem) is admitted only when it is hotter, by at least one access, than
 * the coldest of a few sampled DRAM entries, so a scan of keys seen once does not flush the hot
 * set. A DRAM entry leaving is demoted: a dirty one is written to PMem and
 * fenced before its DRAM copy is freed; a clean one (PMem holds its value)
 * is dropped.
 */
export class TieredCache<V = unknown> {
  readonly writeMode: WriteMode;
  readonly encoding: CacheEncoding;
  /** Default ms to live of a set; 0 for forever. */
  readonly ttl: number;
  readonly #dram: DramTier;
  readonly #pmem: PmemTier;
  readonly #hot: Hotness;
  readonly #sketch: FrequencySketch;
  readonly #mapping: Mapping | undefined;
  /** The file's lock, held from open to close (its finalizer releases it for a cache never closed). */
  #lock: NativeLock | null = null;
  readonly #tag: number;
  #closed = false;
  readonly #stats = new CacheCounters();

  /**
   * Opens the cache: locks and maps `file` (a missing or empty one is
   * created, formatted and published whole) or takes `region` (no lock),
   * formats a region that holds nothing or recovers the tier it holds, and
   * preloads its hottest entries into DRAM.
   * @throws TypeError, RangeError for bad options; PmemError ERR_PMEM_LOCKED
   *   (another open holds the file, in this process or another),
   *   ERR_PMEM_NOT_A_STORE (the file or region holds something else; nothing
   *   is written to it), ERR_PMEM_CORRUPT, ERR_PMEM_INVALID (made with
   *   another slotBytes), ERR_PMEM_READONLY (a read-only region), and
   *   openStoreFile's codes
   */
  constructor(options: TieredCacheOptions) {
    const o = checkCacheOptions(options);
    this.writeMode = o.writeMode;
    this.encoding = o.encoding;
    this.ttl = o.ttl;
    this.#tag = ENCODING_TAG[o.encoding];
    this.#hot = new Hotness(o.halfLife);
    // Bounded by dramBytes alone, DRAM still holds at most MAX_ENTRIES keys (its Map's limit).
    this.#dram = new DramTier(Math.min(o.dramEntries, MAX_ENTRIES), o.dramBytes);
    this.#hot.track(this.#dram.score);
    this.#dram.onGrow = (old, now) => this.#hot.retrack(old, now);
    let region: Region;
    if (o.file !== undefined) {
      const { lock, mapping } = openCacheFile(o.file, o.pmemBytes, o.slotBytes);
      this.#lock = lock;
      this.#mapping = mapping;
      region = mapping;
    } else {
      region = o.region!;
      // A set on a read-only mapping would be taken into DRAM and never
      // become durable, and close, whose flush and hotness write it, would
      // throw every time: refused at once, nothing read or written.
      if ((region as { readonly readOnly?: unknown }).readOnly === true) {
        throw new PmemError('ERR_PMEM_READONLY', 'a tiered cache writes its region (sets, demotions, recovery, the hotness close saves): give a writable mapping');
      }
    }
    try {
      this.#pmem = new PmemTier(region, o.slotBytes, this.#hot);
      this.#pmem.onEvict = (key, value, tag) => this.#onPmemEvict(key, value, tag);
      // Counters for 8 times as many keys as the cache can hold: a scan of
      // that many new keys raises another key's estimate by about one.
      this.#sketch = new FrequencySketch(8 * Math.max(this.#pmem.slotCount, Number.isFinite(o.dramEntries) ? o.dramEntries : 0), o.halfLife);
      // Decodes values: a damaged one throws here, and the open fails whole.
      this.#preload(o.preload);
    } catch (e) {
      this.#mapping?.close();
      this.#lock?.release();
      this.#lock = null;
      throw e;
    }
  }

  #preload(n: number): void {
    const p = this.#pmem;
    const now = Date.now();
    for (const s of p.hottest(Math.min(n, p.count))) {
      const size = Buffer.byteLength(p.keys[s]!) + p.value(s).length;
      // Larger than the DRAM tier's byte bound: never admitted (#admit),
      // and no reason to stop the cooler entries that fit.
      if (size > this.#dram.maxBytes) continue;
      if (this.#dram.full(size)) break;
      if (p.expiry[s] !== 0 && p.expiry[s] <= now) continue;
      this.#dram.add(p.keys[s]!, decodeValue(p.value(s), TAG_ENCODING[p.tag(s)]), null, p.tag(s), size, p.score[s], p.expiry[s]);
      this.#stats.preloaded++;
    }
  }

  /** Entries in the cache, each key once (expired ones until they are found expired). */
  get size(): number {
    this.#open();
    let n = this.#pmem.count;
    const d = this.#dram;
    for (let i = 0; i < d.count; i++) if (d.dirty[i] !== null && !this.#pmem.index.has(d.keys[i])) n++;
    return n;
  }

  /** Bytes of keys and values the cache can hold: its PMem slots' capacity. */
  get maxSize(): number {
    this.#open();
    return this.#pmem.slotCount * (this.#pmem.slotBytes - S_KEY);
  }

  /**
   * Bytes of keys and values held on PMem, as maxSize counts them: each
   * record's header is not counted, so that it never exceeds maxSize.
   */
  get calculatedSize(): number {
    this.#open();
    return this.#pmem.bytes - this.#pmem.count * S_KEY;
  }

  /** Entries the PMem tier holds at most (one per slot). */
  get max(): number {
    this.#open();
    return this.#pmem.slotCount;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #open(): void {
    if (this.#closed) throw closedError('the tiered cache');
  }

  /**
   * The value of `key`, or undefined. Counts an access: a DRAM hit adds to
   * its hotness; a PMem hit is promoted to DRAM when admitted. Writes
   * nothing durable, except that an expired PMem entry is deleted.
   * @throws TypeError; PmemError ERR_PMEM_CLOSED
   */
  get(key: string): V | undefined {
    if (this.#closed) this.#open();
    const d = this.#dram;
    const i = d.index.get(key);
    if (i !== undefined) {
      const e = d.expiry[i];
      if (e === 0 || e > Date.now()) {
        // The touch first: it may rescale every score, this one too.
        const w = this.#hot.touch();
        d.score[i] += w;
        this.#stats.dramHits++;
        return d.values[i] as V;
      }
    }
    return this.#getWarm(checkKey(key));
  }

  #getWarm(key: string): V | undefined {
    if (this.#expireIfStale(key)) {
      this.#hot.touch();
      this.#stats.misses++;
      return undefined;
    }
    const p = this.#pmem;
    const s = p.index.get(key);
    const w = this.#hot.touch();
    if (s === undefined) {
      this.#sketch.add(hashKey(key), this.#hot.clock);
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.pmemHits++;
    const score = (p.score[s] += w);
    const bytes = p.value(s);
    const tag = p.tag(s);
    const value = decodeValue(bytes, TAG_ENCODING[tag]);
    const size = Buffer.byteLength(key) + bytes.length;
    const expiry = p.expiry[s];
    // The demotions that make room write dirty entries to PMem, and a full
    // PMem tier evicts for them: the victim may be this very slot. Its
    // entry has then left the cache (a clean DRAM copy is one PMem holds,
    // and nothing would write this one back): it is not promoted.
    if (this.#admit(score, size) && p.index.get(key) === s) {
      this.#dram.add(key, value, null, tag, size, score, expiry);
      this.#stats.promotions++;
    }
    return value as V;
  }

  /**
   * DRAM's copy of a value `set` encoded into `bytes`, which reads hand out
   * (the same object on every DRAM hit, as lru-cache returns what was set).
   * A Buffer apart from `bytes`, which may be the entry's dirty bytes (a
   * write-back entry's, which a demotion writes): a change a caller makes to
   * what get returned never reaches PMem. A json value parsed back, as PMem
   * and the next open give it (a Date as its string, NaN as null), so that a
   * DRAM hit returns what a PMem hit would, and a change the caller makes to
   * the object it set reaches no read. A string as it is.
   */
  #dramCopy(value: unknown, bytes: Buffer): unknown {
    if (this.encoding === 'buffer') {
      const copy = Buffer.allocUnsafe(bytes.length); // every byte set below
      copy.set(bytes);
      return copy;
    }
    return this.encoding === 'json' ? decodeValue(bytes, 'json') : value;
  }

  /** Removes `key` if its entry in either tier has expired; returns whether it did. */
  #expireIfStale(key: string): boolean {
    const now = Date.now();
    const d = this.#dram;
    const i = d.index.get(key);
    const s = this.#pmem.index.get(key);
    const stale = (i !== undefined && d.expiry[i] !== 0 && d.expiry[i] <= now) ||
      (i === undefined && s !== undefined && this.#pmem.expiry[s] !== 0 && this.#pmem.expiry[s] <= now);
    if (!stale) return false;
    if (i !== undefined) d.remove(i);
    this.#pmem.remove(key);
    this.#stats.expired++;
    return true;
  }

  /**
   * Whether a candidate of `score` and `size` bytes enters DRAM: yes when
   * there is room; else the coldest of a few sampled DRAM entries is
   * demoted if the candidate is hotter, until there is room. Expired
   * entries go first.
   */
  #admit(score: number, size: number): boolean {
    const d = this.#dram;
    if (size > d.maxBytes) return false;
    const now = Date.now();
    while (d.full(size)) {
      const v = d.victim(now);
      if (v < 0) return false;
      if (d.expiry[v] !== 0 && d.expiry[v] <= now) {
        this.#pmem.remove(d.keys[v]);
        d.remove(v);
        this.#stats.expired++;
        continue;
      }
      // Hotter by at least one access: among entries of equal frequency
      // (a loop), the more recent one is not preferred, so the resident
      // ones stay instead of each pushing out the next (LRU's failure).
      if (d.score[v] + this.#hot.weight() >= score) {
        this.#stats.rejected++;
        return false;
      }
      this.#demote(v);
    }
    return true;
  }

  /**
   * Moves DRAM entry `i` out of DRAM. A dirty entry is copied to PMem,
   * written back and fenced (PmemTier.put returns only then), and only
   * after that is its DRAM copy freed: at every moment the entry is in DRAM
   * or durable on PMem. A clean entry's value is on PMem already; its DRAM
   * copy is dropped, and its hotness goes with it to PMem.
   */
  #demote(i: number): void {
    const d = this.#dram;
    const key = d.keys[i];
    const bytes = d.dirty[i];
    const tag = d.tags[i];
    const score = d.score[i];
    const expiry = d.expiry[i];
    if (bytes === null) {
      const s = this.#pmem.index.get(key)!;
      if (this.#pmem.score[s] < score) this.#pmem.score[s] = score;
      d.remove(i);
      this.#stats.cleanDemotions++;
      return;
    }
    if (cacheHooks.freeBeforeFence) {
      const value = d.values[i];
      d.remove(i);
      if (cacheHooks.demoted !== undefined) cacheHooks.demoted(key, value);
      this.#pmem.put(key, Buffer.from(key), bytes, tag, expiry, score);
    } else {
      this.#pmem.put(key, Buffer.from(key), bytes, tag, expiry, score);
      // Durable on PMem: the DRAM copy may go.
      const at = d.index.get(key)!;
      if (cacheHooks.demoted !== undefined) cacheHooks.demoted(key, d.values[at]);
      d.remove(at);
    }
    this.#stats.dirtyDemotions++;
  }

  /**
   * The PMem tier evicted `key`: a clean DRAM copy of it is now the only
   * one, so it becomes dirty, with a copy of the bytes PMem held (those
   * `set` encoded). Not encoded again from the DRAM value: the caller may
   * have changed that object since (JSON.stringify would then throw here,
   * inside an unrelated put, or run a toJSON that calls back into the cache).
   * The bytes keep their slot's encoding tag, which may be another than the
   * cache's (the file was written with another encoding): a demotion writes
   * them back under it, so they read back as the value they were.
   */
  #onPmemEvict(key: string, value: Buffer, tag: number): void {
    this.#stats.evictions++;
    const i = this.#dram.index.get(key);
    if (i !== undefined && this.#dram.dirty[i] === null) {
      this.#dram.update(i, this.#dram.values[i], Buffer.from(value), tag, this.#dram.sizes[i], this.#dram.expiry[i]);
    }
  }

  /**
   * Sets `key` to `value` (encoded with the cache's encoding, read once).
   * 'write-back': durable once the entry is demoted, or after `flush()` or
   * `close()`; until then a crash keeps the key's last durable value.
   * 'write-through', or a value admission keeps out of DRAM: durable on
   * return. An entry larger than a slot is not stored, and an older value of
   * its key is deleted (lru-cache's rule for `maxEntrySize`).
   * @throws TypeError for a key that is not a string or a value the encoding
   *   cannot take, RangeError for a bad ttl; PmemError ERR_PMEM_CLOSED (the
   *   cache, or the region under it, is closed); and
   *   whatever a json value's toJSON or getter throws, as it was thrown
   */
  set(key: string, value: V, options?: { ttl?: number }): this {
    this.#open();
    checkKey(key);
    const ttl = setTtl(options, this.ttl);
    const bytes = encodeValue(value, this.encoding);
    // Encoding ran the caller's code (a toJSON, a getter), which may have closed the cache.
    this.#open();
    // A region its owner closed under the cache: a write-back value taken
    // into DRAM could never be written.
    checkOpen(this.#pmem.region, 'tiered cache');
    const keyBytes = Buffer.from(key);
    if (!this.#pmem.fits(keyBytes.length, bytes.length)) {
      this.delete(key);
      this.#stats.tooLarge++;
      return this;
    }
    const expiry = ttl > 0 ? Date.now() + ttl : 0;
    const size = keyBytes.length + bytes.length;
    const d = this.#dram;
    const p = this.#pmem;
    const w = this.#hot.touch();
    let i = d.index.get(key);
    const through = this.writeMode === 'write-through';
    if (i !== undefined && d.bytes - d.sizes[i] + size <= d.maxBytes) {
      const score = (d.score[i] += w);
      if (through) p.put(key, keyBytes, bytes, this.#tag, expiry, score);
      i = d.index.get(key)!;
      d.update(i, this.#dramCopy(value, bytes), through ? null : bytes, this.#tag, size, expiry);
      return this;
    }
    let score: number;
    if (i !== undefined) {
      // The new value would take DRAM past its byte bound: the entry leaves
      // DRAM (its old value is replaced anyway) and the new one is a
      // candidate like any other, with the entry's score.
      score = d.score[i] + w;
      d.remove(i);
    } else {
      const s = p.index.get(key);
      // A key the cache does not hold counts the accesses the sketch saw (a
      // get that missed, typically), or this set if it saw none: one access,
      // not two, for the usual get-miss-then-set.
      score = s !== undefined ? p.score[s] + w : this.#hot.scoreOf(Math.max(1, this.#sketch.estimate(hashKey(key), this.#hot.clock)));
    }
    // Admission first, the put after: the demotions that make room write
    // dirty entries to PMem, and a full PMem tier evicts for them, which
    // after the put could take the slot just written (see #getWarm) and
    // leave the value nowhere. The put evicts only for itself.
    const admitted = this.#admit(score, size);
    if (through || !admitted) {
      p.put(key, keyBytes, bytes, this.#tag, expiry, score);
      if (admitted) d.add(key, this.#dramCopy(value, bytes), null, this.#tag, size, score, expiry);
      return this;
    }
    d.add(key, this.#dramCopy(value, bytes), bytes, this.#tag, size, score, expiry);
    return this;
  }

  /**
   * Removes `key` from both tiers; durable when it returns. Returns whether
   * the cache held it.
   * @throws TypeError; PmemError ERR_PMEM_CLOSED
   */
  delete(key: string): boolean {
    this.#open();
    checkKey(key);
    const i = this.#dram.index.get(key);
    if (i !== undefined) {
      this.#sketch.remember(hashKey(key), this.#hot.countOf(this.#dram.score[i]), this.#hot.clock);
      this.#dram.remove(i);
    }
    return this.#pmem.remove(key) || i !== undefined;
  }

  /**
   * Whether the cache holds an unexpired `key`. Not an access.
   * @throws TypeError; PmemError ERR_PMEM_CLOSED
   */
  has(key: string): boolean {
    this.#open();
    checkKey(key);
    const now = Date.now();
    const i = this.#dram.index.get(key);
    if (i !== undefined) return this.#dram.expiry[i] === 0 || this.#dram.expiry[i] > now;
    const s = this.#pmem.index.get(key);
    return s !== undefined && (this.#pmem.expiry[s] === 0 || this.#pmem.expiry[s] > now);
  }

  /**
   * The value of `key` without counting an access or promoting it.
   * @throws TypeError; PmemError ERR_PMEM_CLOSED
   */
  peek(key: string): V | undefined {
    if (!this.has(key)) return undefined;
    const i = this.#dram.index.get(key);
    if (i !== undefined) return this.#dram.values[i] as V;
    const s = this.#pmem.index.get(key)!;
    return decodeValue(this.#pmem.value(s), TAG_ENCODING[this.#pmem.tag(s)]) as V;
  }

  /**
   * Removes every entry from both tiers; durable when it returns.
   * @throws PmemError ERR_PMEM_CLOSED
   */
  clear(): void {
    this.#open();
    this.#dram.clear();
    this.#pmem.clear();
    this.#sketch.clear();
  }

  /**
   * Writes every dirty DRAM entry to PMem (each fenced before it is marked
   * clean); every value set before the call is durable when it returns,
   * except one whose PMem copy the tier evicts during the call to make room
   * (a PMem tier with fewer slots than DRAM has entries).
   * @throws PmemError ERR_PMEM_CLOSED
   */
  flush(): void {
    this.#open();
    const d = this.#dram;
    for (let i = 0; i < d.count; i++) {
      const bytes = d.dirty[i];
      if (bytes === null) continue;
      const key = d.keys[i];
      this.#pmem.put(key, Buffer.from(key), bytes, d.tags[i], d.expiry[i], d.score[i]);
      // The PMem copy is durable: the DRAM copy is clean from here on.
      // PMem evictions during the put mark DRAM entries dirty and never
      // move them, so the loop's positions stay valid.
      d.clean(d.index.get(key)!);
    }
  }

  /**
   * Flushes (every value durable), writes each entry's hotness for the
   * next open's preload, unmaps a file the cache opened and releases its
   * lock. A region the caller gave stays open. Idempotent.
   * @throws PmemError ERR_PMEM_CLOSED when the caller closed the region
   *   before the cache while DRAM held values not yet written to it (they
   *   are lost); the cache is closed all the same
   */
  close(): void {
    if (this.#closed) return;
    let lost = 0;
    if (this.#pmem.region.closed !== true) {
      this.flush();
      this.#pmem.saveHotness();
    } else {
      lost = this.#dram.dirtyCount;
    }
    this.#closed = true;
    this.#dram.clear();
    this.#mapping?.close();
    // Released after the unmap: the next open maps a file no one writes.
    this.#lock?.release();
    this.#lock = null;
    if (lost > 0) {
      throw new PmemError('ERR_PMEM_CLOSED', `the region under the tiered cache was closed before it: ${lost} write-back value(s) held only in DRAM were never written, and are lost`);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Keys of unexpired entries: DRAM's first, then those only on PMem. A
   * snapshot, taken at the first `next()`; a closed cache throws here, when
   * this is called.
   */
  keys(): IterableIterator<string> {
    this.#open();
    return this.#keys();
  }

  *#keys(): IterableIterator<string> {
    const d = this.#dram;
    const out = d.keys.slice(0, d.count);
    for (const s of this.#pmem.slots()) if (!d.index.has(this.#pmem.keys[s]!)) out.push(this.#pmem.keys[s]!);
    for (const k of out) if (this.has(k)) yield k;
  }

  values(): IterableIterator<V> {
    this.#open();
    return this.#values();
  }

  *#values(): IterableIterator<V> {
    for (const [, v] of this.#entries()) yield v;
  }

  entries(): IterableIterator<[string, V]> {
    this.#open();
    return this.#entries();
  }

  *#entries(): IterableIterator<[string, V]> {
    for (const k of this.#keys()) {
      const v = this.peek(k);
      if (v !== undefined) yield [k, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** Calls `fn(value, key, cache)` for each entry, as lru-cache does. */
  forEach(fn: (value: V, key: string, cache: this) => void, thisArg?: unknown): void {
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  /** What the cache holds and has done since it was opened. */
  stats(): TieredCacheStats {
    return statsOf(this.#stats, this.#dram, this.#pmem, this.#closed ? 0 : this.size);
  }
}

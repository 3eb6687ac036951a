// The DRAM index of KVStore: an open-addressing hash table in typed arrays
// that maps a key to the region offset of its entry, comparing keys against
// the entry's bytes in the region (so no key is copied into the JS heap),
// and a key order for range scans that is built lazily. Keys are handled as
// one-byte ("latin1") strings of their bytes, whose string order is byte
// order.
import { randomBytes } from 'node:crypto';

import { viewLength } from '../core/args';
import { binding } from '../core/binding';
import { ENTRY_HEADER_BYTES, MAX_KEY } from './format';

/** Bounds of a range scan, as one-byte key strings. */
export interface IndexRange {
  lower?: string;
  lowerInclusive: boolean;
  upper?: string;
  upperInclusive: boolean;
  prefix?: string;
  reverse: boolean;
}

/** Whether `key` (a one-byte string) lies in `r`, as range() bounds it. */
export function inRange(key: string, r: IndexRange): boolean {
  if (r.prefix !== undefined && !key.startsWith(r.prefix)) return false;
  if (r.lower !== undefined && (r.lowerInclusive ? key < r.lower : key <= r.lower)) return false;
  if (r.upper !== undefined && (r.upperInclusive ? key > r.upper : key >= r.upper)) return false;
  return true;
}

/** Tables from this size (in bytes) ask for huge pages: at least two 2 MiB pages. */
const HUGE_TABLE = 4 * 1024 * 1024;

const EMPTY = 0;
/** A deleted slot; no entry lives at offset 1 (the superblock is there). */
const GONE = 1;
const ENTRY_KEY = ENTRY_HEADER_BYTES; // key bytes follow the entry header; its length is the u16 at +2

/** murmur3's fmix32, as an int32. */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  // An int32, not the uint32 it stands for: a uint32 of 2^31 or more is no
  // small integer to V8, and passing one to a call it is not inlined into
  // allocates a heap number (half of all lookups did). The slots hold the
  // same 32 bits; they are compared as int32 (`| 0`).
  return h ^ (h >>> 16);
}

// The key hash: FNV-1a over the key's bytes from a seeded basis, finalized
// with murmur3's fmix32 (as an int32 here; as the uint32 of the same bits in
// hashEntry and native code). native/kv/scan.cc (KeyHash) computes it too,
// for the reopen, from the same seed; test/70 checks that the three agree.

/**
 * The hash's seed, drawn once per process (per worker thread: each loads
 * its own copy of this module) and never stored: no index outlives its
 * process. Keys chosen to share a probe path under a known hash (a client
 * of pmem serve, users of an application that stores their names) would
 * make every lookup among them walk that path, as long as it is; under a
 * seed they cannot know, they spread as any keys do (test/70.kv-hash-seed).
 */
export const KEY_HASH_SEED = randomBytes(4).readUInt32LE(0);
const BASIS = (0x811c9dc5 ^ KEY_HASH_SEED) | 0;

/** FNV-1a over a one-byte string's char codes (its bytes), finalized. */
function hashString(k: string): number {
  let h = BASIS;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  return fmix(h);
}

function hashBytes(b: Uint8Array, at: number, n: number): number {
  let h = BASIS;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[at + i], 0x01000193);
  return fmix(h);
}

export class KvIndex {
  /** The region's bytes, where every key is compared; replaced when the region is remapped. */
  bytes: Buffer;
  /** Slot i: [2i] the entry offset (or EMPTY, GONE), [2i + 1] the key's hash; one cache line holds 8 slots. */
  #slots = new Uint32Array(2048);
  /** The address of #slots' first byte, for prefetch hints (slotAddress). */
  #address = binding.kvTableAddress(this.#slots);
  #mask = 1023;
  #size = 0;
  #gone = 0;

  /**
   * Keys in byte order (null: build from the table on the first scan); may
   * hold keys deleted since. Until a scan asks for it, no key string is kept.
   */
  #sorted: string[] | null = null;
  /** Keys added since `#sorted` was built, in no order. */
  #added: string[] = [];
  #deletedSinceSort = 0;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes of DRAM the index holds (the table, and the key order once built). */
  get memoryBytes(): number {
    let n = this.#slots.byteLength;
    if (this.#sorted !== null) for (const k of this.#sorted) n += 8 + 16 + Math.ceil(k.length / 8) * 8;
    return n;
  }

  /** Sizes the table for `n` keys at once, instead of growing it step by step. */
  reserve(n: number): void {
    // The smallest table that holds them at a load of at most 3/4: a bigger
    // one would only cost more cache and TLB misses.
    const keys = this.#size + n;
    let cap = this.#mask + 1;
    if (keys * 4 <= cap * 3) return;
    while (keys * 4 > cap * 3) cap *= 2;
    this.#rehash(cap / 2);
  }

  /** Offset of the entry of `key`, or undefined. */
  get(key: string): number | undefined {
    const i = this.#find(key, hashString(key));
    return i < 0 ? undefined : this.#slots[2 * i];
  }

  /**
   * get() for a key given as its bytes: no key string is made. Each slot's
   * tag (the key's hash) and the entry's key length are compared before
   * the entry's key bytes are read. Reading the key twice (hash, compare)
   * is safe here: a lookup writes nothing.
   * @throws RangeError for a key over MAX_KEY bytes
   */
  getBytes(key: Uint8Array): number | undefined {
    // Its length through the view's internal slot, as a put reads it: a
    // subclass's getter or an own `length` would make it another key here
    // than the one stored. A view of a detached buffer is refused.
    const n = viewLength(key, 'key');
    if (n > MAX_KEY) throw new RangeError(`key is ${n} bytes; the limit is ${MAX_KEY}`);
    const h = hashBytes(key, 0, n);
    const b = this.bytes;
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const o = slots[2 * i];
      if (o === EMPTY) return undefined;
      if (o === GONE || (slots[2 * i + 1] | 0) !== h || (b[o + 2] | (b[o + 3] << 8)) !== n) continue;
      let j = 0;
      const k = o + ENTRY_KEY;
      while (j < n && b[k + j] === key[j]) j++;
      if (j === n) return o;
    }
  }

  /**
   * The address of the first slot a key of hash `h` (keyHashAt) probes: a
   * prefetch hint for a put that looks the key up after writing its record
   * (lib/kv/log.ts). Stale once the table is rebuilt, which a hint may be.
   */
  slotAddress(h: number): number {
    return this.#address + 8 * (h & this.#mask);
  }

  /** Points `key` (of hash `h`, when given: keyHashAt of its entry) at `offset`; returns the offset it pointed at before. */
  set(key: string, offset: number, h = hashString(key)): number | undefined {
    const i = this.#find(key, h);
    if (i >= 0) {
      const prev = this.#slots[2 * i];
      this.#slots[2 * i] = offset;
      return prev;
    }
    if (this.#sorted !== null) this.#added.push(key);
    this.#insert(h, offset);
    return undefined;
  }

  /** Removes `key`; returns the offset it pointed at. */
  delete(key: string, h = hashString(key)): number | undefined {
    const i = this.#find(key, h);
    return i < 0 ? undefined : this.#remove(i);
  }

  /** Slots minus one: a hash's home slot is `hash & slotMask`. */
  get slotMask(): number {
    return this.#mask;
  }

  /** The hash of the key of the entry at `offset`, as a uint32 (native/kv/scan.cc's). */
  hashEntry(offset: number): number {
    return this.#hashAt(offset) >>> 0;
  }

  /** hashEntry() as the int32 the slots are compared with (fmix): putEntry()'s `h`. */
  keyHashAt(offset: number): number {
    return this.#hashAt(offset);
  }

  /** hashEntry() as the int32 the slots are compared with (fmix): no heap number. */
  #hashAt(offset: number): number {
    const b = this.bytes;
    return hashBytes(b, offset + ENTRY_KEY, b[offset + 2] | (b[offset + 3] << 8));
  }

  /**
   * set() for the key of the entry at `offset` (recovery: no key string is
   * made); `h` is its hashEntry() and `n` its key length, when known.
   * `keepOrder` adds a new key to the key order (a put's) instead of
   * dropping the order. The key is compared, and a new key's string made,
   * from `keyBytes` at `keyAt`: the entry's own bytes unless given (putEntry).
   */
  setEntry(
    offset: number, h = this.#hashAt(offset), n = this.#keyLength(offset), keepOrder = false,
    keyBytes: Buffer = this.bytes, keyAt = offset + ENTRY_KEY,
  ): number | undefined {
    // One probe sequence both looks the key up and finds where a new key
    // goes (the first deleted slot on the way, else the empty one that ends
    // it): a reopen inserts millions of keys this way.
    h |= 0; // compared as int32 (fmix)
    if ((this.#size + this.#gone + 1) * 4 > (this.#mask + 1) * 3) this.#rehash();
    const b = this.bytes;
    const slots = this.#slots;
    const mask = this.#mask;
    let free = -1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const o = slots[2 * i];
      if (o === EMPTY) {
        if (free >= 0) this.#gone--;
        else free = i;
        slots[2 * free] = offset;
        slots[2 * free + 1] = h;
        this.#size++;
        if (keepOrder) {
          // A put's new key joins the key order like set()'s: its string is
          // made only when the order is kept.
          if (this.#sorted !== null) this.#added.push(keyBytes.toString('latin1', keyAt, keyAt + n));
        } else if (this.#sorted !== null || this.#added.length > 0) {
          // Recovery and a reader's replay insert many keys: the order is
          // built again from the table when a scan asks for it.
          this.#sorted = null;
          this.#added = [];
        }
        return undefined;
      }
      if (o === GONE) {
        if (free < 0) free = i;
        continue;
      }
      if ((slots[2 * i + 1] | 0) !== h || (b[o + 2] | (b[o + 3] << 8)) !== n) continue;
      let j = 0;
      if (o !== offset) while (j < n && b[o + ENTRY_KEY + j] === keyBytes[keyAt + j]) j++;
      if (o === offset || j === n) {
        slots[2 * i] = offset;
        return o;
      }
    }
  }

  /**
   * set() for the key of the entry just written at `offset` (a put of a key
   * given as bytes): no key string is made, unless a key order is kept (then
   * one for a new key). `h` is keyHashAt(offset); the key is compared as
   * `n` bytes of `keyBytes` from `keyAt`: a copy of the entry's own, taken
   * before the entry was flushed (lib/kv/log.ts, appendPut).
   */
  putEntry(offset: number, h: number, n: number, keyBytes: Buffer, keyAt: number): number | undefined {
    return this.setEntry(offset, h, n, true, keyBytes, keyAt);
  }

  /** delete() for the key of the entry at `offset`. */
  deleteEntry(offset: number, h = this.#hashAt(offset), n = this.#keyLength(offset)): number | undefined {
    const i = this.#findBytes(offset, n, h | 0); // compared as int32 (fmix)
    return i < 0 ? undefined : this.#remove(i);
  }

  /** Offset the index holds for the key of the entry at `offset`. */
  getEntry(offset: number): number | undefined {
    const b = this.bytes;
    const n = b[offset + 2] | (b[offset + 3] << 8);
    const i = this.#findBytes(offset, n, hashBytes(b, offset + ENTRY_KEY, n));
    return i < 0 ? undefined : this.#slots[2 * i];
  }

  /**
   * The slot that points at the entry at `offset`, or -1 when its key's
   * slot points elsewhere (the entry is dead) or nowhere. Valid for
   * moveSlot() until the next insert, delete or rehash. `h`: the entry's
   * keyHashAt(), when the caller has it.
   */
  liveSlot(offset: number, h = this.#hashAt(offset)): number {
    // A live entry's key has its slot on the probe path of its hash, and
    // that slot holds this very offset: no other slot can, as every slot
    // holds the offset of its own key's entry. So no key is compared. A
    // dead entry's key, when it was overwritten, has a slot with the same
    // tag that points at the newer entry: comparing keys there would read
    // that entry, a cache miss per dead entry that finds nothing.
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const o = slots[2 * i];
      if (o === offset) return i;
      if (o === EMPTY) return -1;
    }
  }

  /**
   * Starts loading the home slots of the first `count` of `hashes`
   * (keyHashAt values), to be looked up next, and with `entries` the
   * entries those slots point at: a hint that changes nothing.
   */
  prefetchSlots(hashes: Int32Array, count: number, entries = false): void {
    if (count > 0) binding.kvPrefetchSlots(this.#slots, hashes, count, entries ? this.bytes : undefined);
  }

  /** The hash set() and get() take for `key`. */
  static hash(key: string): number {
    return hashString(key);
  }

  /** Points slot `i` (from liveSlot) at `offset`, a copy of the entry it pointed at. */
  moveSlot(i: number, offset: number): void {
    this.#slots[2 * i] = offset;
  }

  /**
   * Every key, in byte order. Merges the keys added since the last call
   * into the sorted array (O(n + a log a)) and drops deleted ones; after a
   * recovery, builds it from the table. The returned array is never mutated
   * afterwards, so iterators may hold it.
   */
  sorted(): string[] {
    if (this.#sorted === null) {
      const keys: string[] = [];
      for (let i = 0; i <= this.#mask; i++) {
        const o = this.#slots[2 * i];
        if (o > GONE) keys.push(this.keyAt(o));
      }
      this.#sorted = keys.sort();
      this.#added = [];
      this.#deletedSinceSort = 0;
      return this.#sorted;
    }
    if (this.#added.length === 0 && this.#deletedSinceSort === 0) return this.#sorted;
    const added = this.#added.filter((k) => this.get(k) !== undefined).sort();
    const old = this.#sorted;
    const out: string[] = new Array(this.#size);
    let i = 0;
    let j = 0;
    let n = 0;
    let last: string | undefined;
    while (i < old.length || j < added.length) {
      let k: string;
      if (j >= added.length || (i < old.length && old[i] <= added[j])) k = old[i++];
      else k = added[j++];
      if (k === last || this.get(k) === undefined) continue;
      out[n++] = k;
      last = k;
    }
    out.length = n;
    this.#sorted = out;
    this.#added = [];
    this.#deletedSinceSort = 0;
    return out;
  }

  /**
   * The entry offsets of every key, ascending (so a walk reads the region
   * in address order, and what was written together comes together): a
   * snapshot, with no key string made.
   */
  offsets(): Uint32Array {
    const out = new Uint32Array(this.#size);
    let n = 0;
    for (let i = 0; i <= this.#mask; i++) {
      const o = this.#slots[2 * i];
      if (o > GONE) out[n++] = o;
    }
    return (n === out.length ? out : out.subarray(0, n)).sort();
  }

  /** Keys inside the range, in order (reverse order with `reverse`). */
  *range(r: IndexRange): IterableIterator<string> {
    for (const k of this.rangeCandidates(r)) if (this.get(k) !== undefined) yield k;
  }

  /**
   * Adds keys to the key order kept for range() (when one is kept): each
   * one the next range() finds in the index is listed, once.
   */
  addToOrder(keys: readonly string[]): void {
    if (this.#sorted !== null) for (const k of keys) this.#added.push(k);
  }

  /** The key (a one-byte string) of the entry at `offset`. */
  keyAt(offset: number): string {
    return this.bytes.toString('latin1', offset + ENTRY_KEY, offset + ENTRY_KEY + this.#keyLength(offset));
  }

  /**
   * range() without its lookups: the keys of the key order inside the
   * range, some of which may have been deleted since it was built. For a
   * caller that looks each key up anyway.
   */
  *rangeCandidates(r: IndexRange): IterableIterator<string> {
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
      for (let i = hi - 1; i >= lo; i--) yield keys[i];
    } else {
      for (let i = lo; i < hi; i++) yield keys[i];
    }
  }

  #keyLength(offset: number): number {
    return this.bytes[offset + 2] | (this.bytes[offset + 3] << 8);
  }

  /** Slot of `key`, or -1. */
  #find(key: string, h: number): number {
    const b = this.bytes;
    const n = key.length;
    for (let i = h & this.#mask; ; i = (i + 1) & this.#mask) {
      const o = this.#slots[2 * i];
      if (o === EMPTY) return -1;
      if (o === GONE || (this.#slots[2 * i + 1] | 0) !== h || (b[o + 2] | (b[o + 3] << 8)) !== n) continue;
      let j = 0;
      const k = o + ENTRY_KEY;
      while (j < n && b[k + j] === key.charCodeAt(j)) j++;
      if (j === n) return i;
    }
  }

  /** Slot holding the key of the entry at `at` (n key bytes), or -1. */
  #findBytes(at: number, n: number, h: number): number {
    const b = this.bytes;
    for (let i = h & this.#mask; ; i = (i + 1) & this.#mask) {
      const o = this.#slots[2 * i];
      if (o === EMPTY) return -1;
      if (o === GONE || (this.#slots[2 * i + 1] | 0) !== h || (b[o + 2] | (b[o + 3] << 8)) !== n) continue;
      if (o === at) return i;
      let j = 0;
      while (j < n && b[o + ENTRY_KEY + j] === b[at + ENTRY_KEY + j]) j++;
      if (j === n) return i;
    }
  }

  /**
   * Removes every key whose entry lies in a marked block: the entry at
   * offset o is in block floor((o - start) / blockSize), marked when
   * `marked` holds 1 there (a reader's entries in segments the writer has
   * freed, lib/kv/follow.ts). @returns keys removed
   */
  dropInBlocks(marked: Uint8Array, start: number, blockSize: number): number {
    // One pass over the slots, with no call per slot: a reader beside a
    // busy writer makes one whenever compaction frees segments under it
    // (lib/kv/follow.ts), a stall of its reads meanwhile. At 1M keys a pass
    // with a predicate called per slot took about 16 ms on average, this 12 ms
    // (docs/bench.md, "Every target on an Intel Xeon").
    let n = 0;
    const slots = this.#slots;
    const end = 2 * (this.#mask + 1);
    for (let i = 0; i < end; i += 2) {
      const o = slots[i];
      if (o > GONE && marked[Math.floor((o - start) / blockSize)] === 1) {
        this.#remove(i >> 1);
        n++;
      }
    }
    return n;
  }

  #insert(h: number, offset: number): void {
    if ((this.#size + this.#gone + 1) * 4 > (this.#mask + 1) * 3) this.#rehash();
    let i = h & this.#mask;
    while (this.#slots[2 * i] > GONE) i = (i + 1) & this.#mask;
    if (this.#slots[2 * i] === GONE) this.#gone--;
    this.#slots[2 * i] = offset;
    this.#slots[2 * i + 1] = h;
    this.#size++;
  }

  #remove(i: number): number {
    const prev = this.#slots[2 * i];
    this.#slots[2 * i] = GONE;
    this.#size--;
    this.#gone++;
    this.#deletedSinceSort++;
    return prev;
  }

  /** Rebuilds the table for twice `keys` slots (at least), dropping deleted slots. */
  #rehash(keys = this.#size + 1): void {
    let cap = this.#mask + 1;
    while (keys * 2 > cap) cap *= 2;
    const old = this.#slots;
    const slots = new Uint32Array(2 * cap);
    // A large table in huge pages, asked for before its first store: a
    // probe then costs a cache miss, without a TLB miss on top (docs/bench.md).
    if (slots.byteLength >= HUGE_TABLE) binding.kvTableHuge(slots);
    const mask = cap - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] <= GONE) continue;
      let j = old[i + 1] & mask;
      while (slots[2 * j] !== EMPTY) j = (j + 1) & mask;
      slots[2 * j] = old[i];
      slots[2 * j + 1] = old[i + 1];
    }
    this.#slots = slots;
    this.#address = binding.kvTableAddress(slots);
    this.#mask = mask;
    this.#gone = 0;
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

// The map from a database's keys to their slots in Dict: an open-addressing
// hash table whose keys' bytes live beside it in an arena, both in typed
// arrays (huge pages once large), so that a lookup costs a miss on the slot
// and one on the key's bytes, without touching the JS heap. A Map of 100,000
// string keys cost 300–480 ns a lookup on the 2-vCPU EPYC guest of
// docs/bench.md, mostly TLB misses on the heap; this table, 120 ns.
import { randomBytes } from 'node:crypto';

import { binding } from '../core/binding';
import { fmix } from '../kv/hash-index';

/** Tables and arenas from this size (bytes) ask for huge pages, as KvIndex's. */
const HUGE = 4 * 1024 * 1024;

/** A slot never used; records start at unit 1, so none is at unit 0. */
const EMPTY = 0;
/** A deleted slot. */
const GONE = -1;

/**
 * The arena is counted in 8-byte units, and a record starts on one: its
 * unit u holds the value (int32, word 2u) and the key's length (word
 * 2u + 1), and the key's bytes follow from unit u + 1.
 */
const UNIT = 8;
const HEADER = 8;

/** An arena shrinks (its live records copied) once this much of it is dead and its dead records are 3/4 of it. */
const SHRINK_FROM = 64 * 1024;

/**
 * The hash seed, per process: a client cannot choose keys that all fall
 * on one probe chain without knowing it (V8's Map seeds its string hashes
 * too).
 */
const SEED = randomBytes(4).readInt32LE(0);

/** FNV-1a over the key's char codes from a seeded basis, finalized as KvIndex's hash is. */
function hashKey(k: string): number {
  let h = SEED ^ k.length;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  return fmix(h);
}

/** The subset of Map<string, number> that Dict and reorderSlots use. */
export interface SlotMap {
  readonly size: number;
  get(k: string): number | undefined;
  has(k: string): boolean;
  set(k: string, v: number): unknown;
  delete(k: string): boolean;
  clear(): void;
}

/**
 * A map from one-byte ("latin1") strings to int32 values, as Map's get,
 * has, set, delete and clear. Keys are stored as their bytes: a key with a
 * char code over 255 is a TypeError, as no latin1 string of the keyspace
 * has one.
 */
export class KeyTable implements SlotMap {
  /** Slot i: [2i] the record's unit (EMPTY, GONE), [2i + 1] the key's hash. */
  #slots = new Int32Array(64);
  #mask = 31;
  #size = 0;
  #gone = 0;
  #arena = new Uint8Array(1024);
  #words = new Int32Array(this.#arena.buffer);
  /** Next free unit of the arena (unit 0 is never a record). */
  #top = 1;
  /** Units of records deleted since the arena was last rebuilt. */
  #dead = 0;

  get size(): number {
    return this.#size;
  }

  /** Bytes of DRAM the table and its arena hold. */
  get memoryBytes(): number {
    return this.#slots.byteLength + this.#arena.byteLength;
  }

  get(k: string): number | undefined {
    const i = this.#find(k, hashKey(k));
    return i < 0 ? undefined : this.#words[2 * this.#slots[2 * i]];
  }

  has(k: string): boolean {
    return this.#find(k, hashKey(k)) >= 0;
  }

  set(k: string, v: number): this {
    const i = this.#put(k, v);
    if (i >= 0) this.#words[2 * this.#slots[2 * i]] = v;
    return this;
  }

  /** The value of `k` when it is present (and left as it is); else sets it to `v` and returns undefined. One lookup. */
  getOrSet(k: string, v: number): number | undefined {
    const i = this.#put(k, v);
    return i < 0 ? undefined : this.#words[2 * this.#slots[2 * i]];
  }

  /** The slot of `k` when present; else adds `k` with `v` and returns -1. */
  #put(k: string, v: number): number {
    if (v !== (v | 0)) throw new RangeError(`a KeyTable value must be an int32, not ${v}`);
    const h = hashKey(k);
    const i = this.#find(k, h);
    if (i >= 0) return i;
    // The slots grow before the record is stored: a refused allocation
    // (RangeError) in either leaves the table as it was, with no record
    // stored that no slot points at.
    if ((this.#size + this.#gone + 1) * 4 > (this.#mask + 1) * 3) this.#rehash();
    const u = this.#store(k, v);
    let j = h & this.#mask;
    while (this.#slots[2 * j] > EMPTY) j = (j + 1) & this.#mask;
    if (this.#slots[2 * j] === GONE) this.#gone--;
    this.#slots[2 * j] = u;
    this.#slots[2 * j + 1] = h;
    this.#size++;
    return -1;
  }

  delete(k: string): boolean {
    const i = this.#find(k, hashKey(k));
    if (i < 0) return false;
    this.#dead += units(this.#words[2 * this.#slots[2 * i] + 1]);
    this.#slots[2 * i] = GONE;
    this.#size--;
    this.#gone++;
    if (this.#dead * UNIT >= SHRINK_FROM && this.#dead * 4 > this.#top * 3) {
      // The key is gone whatever happens here: a smaller arena that cannot
      // be had (#makeRoom allocates before it changes anything) leaves the
      // one in use, to shrink at a later delete.
      try {
        this.#makeRoom(0);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
      }
    }
    return true;
  }

  clear(): void {
    this.#slots = new Int32Array(64);
    this.#mask = 31;
    this.#size = 0;
    this.#gone = 0;
    this.#arena = new Uint8Array(1024);
    this.#words = new Int32Array(this.#arena.buffer);
    this.#top = 1;
    this.#dead = 0;
  }

  /** Slot of `k` (of hash `h`), or -1. */
  #find(k: string, h: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const a = this.#arena;
    const w = this.#words;
    const n = k.length;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const u = slots[2 * i];
      if (u === EMPTY) return -1;
      if (u === GONE || slots[2 * i + 1] !== h) continue;
      if (w[2 * u + 1] !== n) continue;
      let j = 0;
      const b = u * UNIT + HEADER;
      while (j < n && a[b + j] === k.charCodeAt(j)) j++;
      if (j === n) return i;
    }
  }

  /** Writes a record of `k` and `v` at the arena's end; returns its unit. */
  #store(k: string, v: number): number {
    const n = k.length;
    const need = units(n);
    if ((this.#top + need) * UNIT > this.#arena.length) this.#makeRoom(need);
    const u = this.#top;
    const o = u * UNIT;
    this.#words[2 * u] = v;
    this.#words[2 * u + 1] = n;
    const a = this.#arena;
    for (let j = 0; j < n; j++) {
      const c = k.charCodeAt(j);
      if (c > 255) throw new TypeError('a KeyTable key must be a latin1 string');
      a[o + HEADER + j] = c;
    }
    this.#top += need;
    return u;
  }

  /**
   * Room for `need` more units: the live records copied into a new arena
   * of twice what they and `need` take (at least), the dead ones dropped,
   * and their slots pointed at the copies. Grows and shrinks the arena.
   */
  #makeRoom(need: number): void {
    const live = this.#top - this.#dead;
    let cap = 128;
    while (cap < 2 * (live + need)) cap *= 2;
    const arena = new Uint8Array(cap * UNIT);
    if (arena.byteLength >= HUGE) binding.kvTableHuge(arena);
    const slots = this.#slots;
    const old = this.#arena;
    const ow = this.#words;
    let top = 1;
    for (let i = 0; i < slots.length; i += 2) {
      const u = slots[i];
      if (u <= EMPTY) continue;
      const size = units(ow[2 * u + 1]);
      arena.set(old.subarray(u * UNIT, (u + size) * UNIT), top * UNIT);
      slots[i] = top;
      top += size;
    }
    this.#arena = arena;
    this.#words = new Int32Array(arena.buffer);
    this.#top = top;
    this.#dead = 0;
  }

  /** Rebuilds the table with twice the live keys' slots (at least), dropping deleted slots. */
  #rehash(): void {
    let cap = 64;
    while ((this.#size + 1) * 2 > cap) cap *= 2;
    const old = this.#slots;
    const slots = new Int32Array(2 * cap);
    if (slots.byteLength >= HUGE) binding.kvTableHuge(slots);
    const mask = cap - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] <= EMPTY) continue;
      let j = old[i + 1] & mask;
      while (slots[2 * j] !== EMPTY) j = (j + 1) & mask;
      slots[2 * j] = old[i];
      slots[2 * j + 1] = old[i + 1];
    }
    this.#slots = slots;
    this.#mask = mask;
    this.#gone = 0;
  }
}

/** Arena units of a record whose key is `n` bytes. */
function units(n: number): number {
  return Math.ceil((HEADER + n) / UNIT);
}

import { checkBoolean, checkIndex, checkRange, snapshotBytes, viewLength, viewPlace } from './args';
import { binding } from './binding';

/**
 * How a store becomes persistent:
 * - `'byte'`: the CPU caches are in the persistence domain (eADR); a fence
 *   orders stores, no flush is needed;
 * - `'cache-line'`: ADR; each dirty cache line needs a flush (CLWB) and a
 *   fence (SFENCE);
 * - `'page'`: no DAX; the page must be written back with msync.
 */
export type Granularity = 'byte' | 'cache-line' | 'page';

/**
 * The one durability seam. Every persistent structure in this package takes
 * a Region and makes its stores durable only through `flush`, `drain` and
 * `persist`, so the crash simulator (`pmem/testing`) sees every ordering
 * point. `Mapping` implements it over a real file.
 */
export interface Region {
  /** The region's bytes; stores go straight into them. */
  readonly bytes: Buffer;
  readonly length: number;
  readonly granularity: Granularity;
  /** Optional: true once the region is unmapped; the structures over it then throw ERR_PMEM_CLOSED. */
  readonly closed?: boolean;
  /** Starts write-back of [offset, offset + length); not yet ordered. */
  flush(offset: number, length: number): void;
  /** Waits until every earlier flush has reached the persistence domain. */
  drain(): void;
  /** flush + drain: [offset, offset + length) is durable when it returns. */
  persist(offset: number, length: number): void;
  /**
   * Optional: `sealRecord(region, ...)` below in one step. A Region that
   * has it must give the same bytes and the same ordering (every byte of
   * the record flushed, drained only with `persist`); a Region without it
   * gets the generic form, and so must refuse a `src` whose length is not
   * `srcLength` (when given) before it writes anything.
   */
  sealRecord?(crcAt: number, end: number, seed: number, persist: boolean, src?: Uint8Array, srcLength?: number): number;
  /**
   * Optional: `sealRecords(region, ...)` (records.ts) in one step, with the same
   * bytes and the same ordering (every byte of every record flushed,
   * drained once and only with `persist`).
   */
  sealRecords?(table: Float64Array, count: number, seed: number, persist: boolean, srcs: ReadonlyArray<unknown>): void;
  /**
   * Optional: `sealAndApply(region, ...)` (records.ts) in one step, with the same
   * bytes and the same ordering (the record persisted, then the copy, then
   * its flush, not fenced).
   */
  sealAndApply?(crcAt: number, end: number, seed: number, target: number, from: number, length: number): void;
  /**
   * Optional aligned 8-byte atomics (`Mapping` has them; see `load64`,
   * `compareExchange64` and `fetchAdd64` below). A Region without them gets
   * the same instructions on views of its `bytes`. None of them flushes:
   * a value they store is visible at once and durable only once persisted.
   */
  load64?(offset: number): bigint;
  store64?(offset: number, value: number | bigint): void;
  compareExchange64?(offset: number, expected: number | bigint, replacement: number | bigint): bigint;
  fetchAdd64?(offset: number, delta: number | bigint): bigint;
  /**
   * Optional: faults the pages of [offset, offset + length) in, so that
   * stores to them do not fault. Changes no byte and orders nothing.
   */
  populate?(offset: number, length: number): void;
  /** Optional: `populate` on a thread of the region's own; returns at once. */
  prefault?(offset: number, length: number): void;
  /**
   * Optional: copies [offset, offset + length) to the start of `target`
   * without making a JavaScript object (a Region without it is read through
   * a view of `bytes`, which makes one). A plain read: it orders nothing.
   */
  readInto?(offset: number, length: number, target: Uint8Array): void;
}

/**
 * Refuses what is not a Region before a structure writes through it: its
 * `bytes` a Buffer, its `length` a safe integer they hold (0 up to
 * `bytes.length`), and `flush`, `drain` and `persist` functions. A length
 * past its bytes would let a structure acknowledge writes up to where the
 * bytes end, then fail, and leave a header that no open of the true length
 * takes. Every structure's format and open over a Region check it here;
 * the length is read once for the check, as a wrapper may compute it.
 * @throws TypeError
 */
export function checkRegion(region: unknown, name = 'region'): Region {
  const what = `${name} must be a Region (bytes, a length they hold, flush, drain, persist)`;
  if (region === null || typeof region !== 'object') throw new TypeError(`${what}, got ${region === null ? 'null' : typeof region}`);
  const r = region as Partial<Region>;
  const bytes = r.bytes;
  if (!Buffer.isBuffer(bytes)) throw new TypeError(`${what}: its bytes are not a Buffer`);
  // Headers, tails and links are 8-byte words stored whole (store64, the
  // atomics): off a word boundary none of them could be, and a structure
  // would fail part way through its first format, or at every recovery.
  if (bytes.byteOffset % 8 !== 0) {
    throw new TypeError(`${what}: its bytes start at byte ${bytes.byteOffset} of their memory, which is not a multiple of 8`);
  }
  const length = r.length;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > bytes.length) {
    throw new TypeError(`${what}: its length ${String(length)} is not a whole number of bytes from 0 to the ${bytes.length} its bytes hold`);
  }
  if (typeof r.flush !== 'function' || typeof r.drain !== 'function' || typeof r.persist !== 'function') {
    throw new TypeError(`${what}: flush, drain and persist must be functions`);
  }
  return region as Region;
}

/**
 * Faults [offset, offset + length) of `region` in ahead of the stores that
 * would fault it (`Region.populate`), or with `background` queues it for the
 * region's own thread (`Region.prefault`). A hint: a Region without the
 * method (the crash simulator) is left alone, and a failure is not thrown,
 * since the stores that follow report whatever is wrong with the range.
 * @returns whether the region took the request
 */
export function populate(region: Region, offset: number, length: number, background = false): boolean {
  const fn = background ? region.prefault : region.populate;
  if (fn === undefined) return false;
  try {
    fn.call(region, offset, length);
    return true;
  } catch {
    return false;
  }
}

/** @throws TypeError unless a number, RangeError unless an integer in [0, 2^32) */
function checkU32(value: unknown, name: string): number {
  const v = checkIndex(value, name);
  if (v > 0xffffffff) throw new RangeError(`${name} must be a uint32, got ${v}`);
  return v;
}

/**
 * Finishes a checksummed record in `[crcAt, end)`: copies `src`, if given,
 * to the record's tail `[end - src.length, end)`; stores the crc32c of
 * `[crcAt + 4, end)`, seeded with `seed`, at `crcAt` (u32, little-endian);
 * flushes the record; with `persist` also drains, so the record is durable
 * when it returns. Returns the checksum. With `srcLength`, a `src` of any
 * other length is refused (RangeError) before anything is written: the
 * caller planned the record for the length it read earlier, and a
 * length-tracking view of a SharedArrayBuffer may have grown since.
 *
 * Uses the Region's own `sealRecord` when it has one (a `Mapping` copies,
 * checksums and streams whole lines in one pass), otherwise
 * `bytes`, `flush` and `drain`, which the crash simulator sees one by one.
 */
export function sealRecord(
  region: Region, crcAt: number, end: number, seed: number, persist: boolean, src?: Uint8Array, srcLength?: number,
): number {
  if (region.sealRecord !== undefined) return region.sealRecord(crcAt, end, seed, persist, src, srcLength);
  // Each argument is checked for its type first and read once, as the
  // native form does: a string or an object's valueOf would otherwise pass
  // one check and be read differently by the next.
  checkIndex(crcAt, 'crcAt');
  checkIndex(end, 'end');
  checkU32(seed, 'seed');
  checkBoolean(persist, 'persist');
  checkRange(crcAt, end - crcAt, region.length);
  if (end - crcAt < 4) throw new RangeError('a record needs 4 bytes for its checksum');
  if (srcLength !== undefined) checkIndex(srcLength, 'srcLength');
  if (src !== undefined) {
    src = snapshotBytes(src, 'src'); // its true length, copied as checked
    if (srcLength !== undefined && src.length !== srcLength) throw srcChanged(src.length, srcLength);
    if (src.length > end - crcAt - 4) throw new RangeError(`a ${src.length}-byte src does not fit the record`);
  }
  const b = region.bytes;
  if (src !== undefined) b.set(src, end - src.length);
  const crc = binding.crc32c(b, crcAt + 4, end - crcAt - 4, seed);
  b.writeUInt32LE(crc, crcAt);
  // Every byte of the record, then the fence only if asked: the caller may
  // seal several records and order them all with one drain.
  if (persist) region.persist(crcAt, end - crcAt);
  else region.flush(crcAt, end - crcAt);
  return crc;
}

function srcChanged(now: number, planned: number): RangeError {
  return new RangeError(`src is ${now} bytes, not the ${planned} the record was planned for (its buffer changed)`);
}

/** Word views of the memory behind one Buffer; see `wordsOf`. */
export interface Words {
  /** u32 elements over the whole ArrayBuffer: index `(base + at) / 4`. */
  readonly u32: Uint32Array;
  /** u64 elements over the whole ArrayBuffer: index `(base + at) / 8`. */
  readonly u64: BigUint64Array;
  /** The same 8-byte elements as doubles, for stores of a bit pattern. */
  readonly f64: Float64Array;
  /** The Buffer's byteOffset in its ArrayBuffer. */
  readonly base: number;
}

/**
 * A class, not an object literal: the second time an object literal with
 * object-valued properties runs, V8 builds its boilerplate and widens the
 * types of those properties on their map, which throws away every
 * optimized function that relied on them (and on the fields of objects
 * that hold one). A second store's open did that to the put path of the
 * first (docs/bench.md, "A fresh store's first puts").
 */
class WordViews implements Words {
  readonly u32: Uint32Array;
  readonly u64: BigUint64Array;
  readonly f64: Float64Array;
  readonly base: number;

  constructor(ab: ArrayBufferLike, base: number) {
    if (resizes(ab)) {
      // Views that follow the buffer's length as it grows or shrinks: a
      // fixed-length one made at the size it had first would ignore every
      // store past that size, silently.
      this.u32 = new Uint32Array(ab);
      this.u64 = new BigUint64Array(ab);
      this.f64 = new Float64Array(ab);
    } else {
      this.u32 = new Uint32Array(ab, 0, Math.floor(ab.byteLength / 4));
      this.u64 = new BigUint64Array(ab, 0, Math.floor(ab.byteLength / 8));
      this.f64 = new Float64Array(ab, 0, Math.floor(ab.byteLength / 8));
    }
    this.base = base;
  }
}

/** Whether `ab` is a resizable ArrayBuffer or a growable SharedArrayBuffer. */
function resizes(ab: ArrayBufferLike): boolean {
  const b = ab as { resizable?: unknown; growable?: unknown };
  return b.resizable === true || b.growable === true;
}

const wordCache = new WeakMap<Uint8Array, Words>();

/**
 * Word views of the memory behind `bytes`, cached per Buffer (reading
 * `.buffer` and `.byteOffset` costs more than a header store). For header
 * fields and publishing stores: one store per field, where Buffer's
 * `writeUInt32LE` checks and stores byte by byte. Little-endian hosts only,
 * like the package.
 */
export function wordsOf(bytes: Uint8Array): Words {
  let w = wordCache.get(bytes);
  if (w === undefined) {
    // Through the internal slots: an own `buffer` or `byteOffset` property
    // on the view cannot move the words elsewhere.
    const { buffer: ab, byteOffset } = viewPlace(bytes);
    w = new WordViews(ab, byteOffset);
    wordCache.set(bytes, w);
  }
  return w;
}

/**
 * Stores `value` at `offset` of `bytes` as one aligned 8-byte store, the
 * unit that persistent memory writes failure-atomically. Publishing stores
 * (commit words, valid flags, link pointers) use it: Buffer's
 * `writeBigUInt64LE` stores the eight bytes one by one, and a line written
 * back between two of them would persist a torn value.
 * @throws RangeError unless the address is 8-byte aligned and in range
 */
export function store64(bytes: Uint8Array, offset: number, value: number | bigint): void {
  checkRange(offset, 8, viewLength(bytes, 'bytes'));
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) value = checkU64(value, 'value');
  const w = wordsOf(bytes);
  if ((w.base + offset) % 8 !== 0) throw new RangeError(`an 8-byte store needs an 8-byte aligned address, got offset ${offset}`);
  if (typeof value === 'number') {
    // The u64's bit pattern, moved as one double: no BigInt to allocate.
    // Below 2^53 its exponent field is at most 1, so it is never a NaN and
    // no load or store can alter it.
    patternU32[0] = value >>> 0;
    patternU32[1] = Math.floor(value / 0x100000000);
    w.f64[(w.base + offset) / 8] = pattern[0];
  } else {
    w.u64[(w.base + offset) / 8] = value;
  }
}

const pattern = new Float64Array(1);
const patternU32 = new Uint32Array(pattern.buffer);

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);

/**
 * A u64 operand of the atomics: a bigint in [0, 2^64), or a number that is a
 * non-negative safe integer. With `signed`, negatives down to -2^63 too (a
 * delta), taken modulo 2^64.
 * @throws TypeError for another type, RangeError for a value out of range
 */
export function checkU64(value: unknown, name: string, signed = false): bigint {
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) return value;
    if (signed && value < 0n && value >= I64_MIN) return BigInt.asUintN(64, value);
    throw new RangeError(`${name} must be ${signed ? 'in [-2^63, 2^64)' : 'a u64'}, got ${value}`);
  }
  if (typeof value !== 'number') throw new TypeError(`${name} must be a bigint or a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || (!signed && value < 0)) {
    throw new RangeError(`${name} must be a ${signed ? '' : 'non-negative '}safe integer or a bigint, got ${value}`);
  }
  return BigInt.asUintN(64, BigInt(value));
}

/**
 * The u64 element at `offset` of `region`, for the atomics below: inside
 * the Region's `length` (its `bytes` may run past it), at an 8-byte aligned
 * address. The address, not the offset: a Region whose bytes start off a
 * word boundary has its words at offsets that are not multiples of 8.
 * @throws RangeError unless the address is 8-byte aligned and the word in range
 */
function wordAt(region: Region, offset: number): { u64: BigUint64Array; index: number } {
  const bytes = region.bytes;
  const length = region.length;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new TypeError(`region must be a Region: its length ${String(length)} is not a whole number of bytes`);
  }
  checkRange(offset, 8, Math.min(length, viewLength(bytes, 'bytes')));
  const w = wordsOf(bytes);
  if ((w.base + offset) % 8 !== 0) throw new RangeError(`an 8-byte atomic needs an 8-byte aligned address, got offset ${offset}`);
  return { u64: w.u64, index: (w.base + offset) / 8 };
}

/*
 * The atomics of any Region. `Atomics` on the BigUint64Array over the
 * region's memory compiles, in V8 on x86-64, to the instructions a C
 * compiler emits for the same operations (a locked cmpxchg, a locked xadd,
 * an xchg for the sequentially consistent store), whether or not the buffer
 * is a SharedArrayBuffer: they act on the memory, so they are atomic against
 * every other thread and process that maps the same file (test/10.mapping-atomics
 * counts it exactly across processes and workers; docs/bench.md has the
 * measurements). On the crash simulator they are plain stores into its
 * bytes, which it sees like any other store.
 */

/** An atomic 8-byte load at an aligned offset. */
export function load64(region: Region, offset: number): bigint {
  if (region.load64 !== undefined) return region.load64(offset);
  const { u64, index } = wordAt(region, offset);
  return Atomics.load(u64, index);
}

/**
 * An atomic 8-byte store at an aligned offset, ordered after every earlier
 * store of this thread (it is sequentially consistent, so a release store).
 * Unlike `store64(bytes, ...)`, it is atomic against other writers of the
 * word too. Not persisted.
 */
export function atomicStore64(region: Region, offset: number, value: number | bigint): void {
  if (region.store64 !== undefined) return region.store64(offset, value);
  const v = checkU64(value, 'value');
  const { u64, index } = wordAt(region, offset);
  Atomics.store(u64, index, v);
}

/**
 * Compare-and-swap of the aligned 8 bytes at `offset`: stores `replacement`
 * if they hold `expected`. Returns the value they held (equal to `expected`
 * exactly when the swap happened). Not persisted.
 */
export function compareExchange64(region: Region, offset: number, expected: number | bigint, replacement: number | bigint): bigint {
  if (region.compareExchange64 !== undefined) return region.compareExchange64(offset, expected, replacement);
  const e = checkU64(expected, 'expected');
  const r = checkU64(replacement, 'replacement');
  const { u64, index } = wordAt(region, offset);
  return Atomics.compareExchange(u64, index, e, r);
}

/** Adds `delta` (modulo 2^64) to the aligned 8 bytes at `offset`; returns their old value. Not persisted. */
export function fetchAdd64(region: Region, offset: number, delta: number | bigint): bigint {
  if (region.fetchAdd64 !== undefined) return region.fetchAdd64(offset, delta);
  const d = checkU64(delta, 'delta', true);
  const { u64, index } = wordAt(region, offset);
  return Atomics.add(u64, index, d);
}

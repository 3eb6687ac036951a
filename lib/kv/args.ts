// Argument checks and conversions of the KVStore API. Keys become one-byte
// ("latin1") strings of their bytes: the index's key, and the form whose
// string order is byte order.
import { checkBoolean, checkIndex, checkOptions, checkWellFormed, isUint8Array, snapshotBytes, typeName, unchanged, viewLength } from '../core/args';
import { DEFAULT_SEGMENT, entry, ENTRY_DEL, ENTRY_PUT, MAX_FILE, MAX_KEY, MAX_SEGMENT, MAX_VALUE, MIN_SEGMENT } from './format';
import type { Entry } from './log';
import type { IndexRange } from './hash-index';
import { isSegmentSize } from './segments';
import type { KVOpenOptions, KVRangeOptions } from './types';

/** A key or value: bytes, or a string stored as UTF-8. */
export type KVData = Buffer | Uint8Array | string;

// A string key or value with a lone surrogate is a TypeError (checkWellFormed):
// it has no UTF-8 form, its bytes would be U+FFFD's, so two such keys would
// be one key, and such a value would read back as another string.

/** The one-byte string of a key's bytes. @throws TypeError, RangeError */
export function keyOf(key: unknown, name = 'key'): string {
  let k: string;
  if (typeof key === 'string') {
    if (isAscii(key)) k = key;
    else {
      checkWellFormed(key, name);
      k = Buffer.from(key, 'utf8').toString('latin1');
    }
  } else if (isUint8Array(key)) {
    // Read once: the key string is the snapshot.
    const u8 = snapshotBytes(key, name);
    if (u8.length > MAX_KEY) throw new RangeError(`${name} is ${u8.length} bytes; the limit is ${MAX_KEY}`);
    // A Buffer decodes itself; a plain Uint8Array needs a Buffer over it first.
    k = u8 instanceof Buffer ? u8.toString('latin1') : Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('latin1');
  } else {
    throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${typeName(key)}`);
  }
  if (k.length > MAX_KEY) throw new RangeError(`${name} is ${k.length} bytes; the limit is ${MAX_KEY}`);
  return k;
}

/** A put's key as setPutKey leaves it, reused from put to put. */
export interface PutKey {
  /** A one-byte string (keyOf), or the caller's bytes themselves. */
  key: string | Uint8Array | null;
  /** Its length in bytes: for bytes, read through the view's internal slot. */
  klen: number;
}

/** setPutKey's UTF-8 bytes of a key string beyond ASCII, for the one put that reads them. */
const utf8Key = Buffer.alloc(MAX_KEY + 4);

/** A PutKey made by a class, for the reason entries are (format.ts, KvEntry). */
class PutKeyHolder implements PutKey {
  key: string | Uint8Array | null = null;
  klen = 0;
}

export function newPutKey(): PutKey {
  return new PutKeyHolder();
}

/**
 * Sets `e` to a put's key: a string as keyOf() has it; bytes as the
 * caller's view itself, with its length read through the view's internal
 * slot, so that no getter of it runs. The put copies exactly `klen` of them
 * into its record, with no user code run in between, then hashes and
 * compares the key as the record holds it (lib/kv/log.ts): the key indexed
 * is the key stored, whatever another thread does to a shared view meanwhile.
 * @throws TypeError, RangeError
 */
export function setPutKey(e: PutKey, key: unknown): void {
  if (!isUint8Array(key)) {
    if (typeof key === 'string' && isAscii(key)) {
      // keyOf's own case, without its second look at every char.
      if (key.length > MAX_KEY) throw new RangeError(`key is ${key.length} bytes; the limit is ${MAX_KEY}`);
      e.key = key;
      e.klen = key.length;
      return;
    }
    if (typeof key === 'string') {
      // Text beyond ASCII: its UTF-8 bytes, encoded into one scratch buffer
      // and put as bytes. keyOf would make a Buffer and a latin1 string of
      // them on every put, which took 2x the put (docs/bench.md).
      checkWellFormed(key, 'key');
      const n = utf8Key.write(key, 0, 'utf8');
      // write() stores whole chars only: a key too long for the scratch
      // still fills more than MAX_KEY of its MAX_KEY + 4 bytes.
      if (n > MAX_KEY) throw new RangeError(`key is ${Buffer.byteLength(key, 'utf8')} bytes; the limit is ${MAX_KEY}`);
      e.key = utf8Key;
      e.klen = n;
      return;
    }
    const k = keyOf(key);
    e.key = k;
    e.klen = k.length;
    return;
  }
  const n = viewLength(key, 'key');
  if (n > MAX_KEY) throw new RangeError(`key is ${n} bytes; the limit is ${MAX_KEY}`);
  e.key = key as Uint8Array;
  e.klen = n;
}

/**
 * Whether a string is ASCII. ASCII strings already are their own UTF-8
 * bytes, and a string is ASCII exactly when its UTF-8 form is as long as it
 * is (every other char takes 2 to 4 bytes): for a long string a native
 * count, faster than a regex test; for a short one (a typical key) a loop
 * over its chars, faster than the call.
 */
function isAscii(s: string): boolean {
  const n = s.length;
  if (n > 32) return Buffer.byteLength(s, 'utf8') === n;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Sets `e.value` and `e.vlen` to a put's value as bytes or string and its
 * length in bytes, without an object per call. Bytes are the caller's own,
 * their length read through the view's internal slot (no getter of it
 * runs): the put hands them to sealRecord, which copies them once and
 * refuses them, writing nothing, if their length is no longer `e.vlen` (a
 * length-tracking view of a SharedArrayBuffer that another thread grew).
 * No user code runs in between. @throws TypeError, RangeError
 */
export function setValue(e: Entry, value: unknown, name = 'value'): void {
  let len: number;
  if (typeof value === 'string') {
    len = Buffer.byteLength(value, 'utf8');
    // An ASCII string (as long as its bytes) has no surrogate to check.
    if (len !== value.length) checkWellFormed(value, name);
  } else if (isUint8Array(value)) {
    len = viewLength(value, name);
  } else throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${typeName(value)}`);
  checkValueLength(len, name);
  e.value = value as Uint8Array | string;
  e.vlen = len;
}

/**
 * A value as bytes or string, with its length in bytes, read once: bytes
 * are snapshotted (snapshotBytes), since a batch reads its next op, and may
 * run a getter, before this value is written. @throws TypeError, RangeError
 */
export function valueArg(value: unknown, name = 'value'): { v: Uint8Array | string; len: number } {
  const e: Entry = entry(ENTRY_PUT, '', null, 0);
  setValue(e, value, name);
  if (typeof e.value === 'string') return { v: e.value, len: e.vlen };
  const v = snapshotBytes(e.value, name);
  checkValueLength(v.length, name); // the snapshot's own length is the one written
  return { v, len: v.length };
}

function checkValueLength(len: number, name: string): void {
  if (len > MAX_VALUE) throw new RangeError(`${name} is ${len} bytes; the limit is ${MAX_VALUE}`);
}

const RANGE_OPTIONS = ['gt', 'gte', 'lt', 'lte', 'prefix', 'reverse', 'limit', 'encoding'];

/** The checked options of KVStore.range(), each read once. @throws TypeError, RangeError */
export function rangeArgs(options: unknown): { range: IndexRange; limit: number; encoding: 'buffer' | 'utf8' } {
  // One read of each: a getter that answers differently the second time
  // cannot pass one check and then set another bound or inclusiveness.
  const { gt, gte, lt, lte, prefix, reverse: rev, limit: lim, encoding: enc } = checkOptions(options, RANGE_OPTIONS) as KVRangeOptions;
  const bound = (v: KVData | undefined, name: string): string | undefined => (v === undefined ? undefined : keyOf(v, name));
  if (gt !== undefined && gte !== undefined) throw new TypeError('gt and gte cannot be combined');
  if (lt !== undefined && lte !== undefined) throw new TypeError('lt and lte cannot be combined');
  const reverse = checkBoolean(rev === undefined ? false : rev, 'reverse');
  const limit = lim === undefined ? Infinity : checkIndex(lim, 'limit');
  const encoding = enc === undefined ? 'buffer' : enc;
  if (encoding !== 'buffer' && encoding !== 'utf8') throw new TypeError(`encoding must be 'buffer' or 'utf8'`);
  const range: IndexRange = {
    lower: gt !== undefined ? bound(gt, 'gt') : bound(gte, 'gte'),
    lowerInclusive: gt === undefined,
    upper: lt !== undefined ? bound(lt, 'lt') : bound(lte, 'lte'),
    upperInclusive: lt === undefined,
    prefix: bound(prefix, 'prefix'),
    reverse,
  };
  return { range, limit, encoding };
}

/** A segment size option, checked. @throws TypeError, RangeError */
export function checkSegmentSize(n: unknown): number {
  const v = checkIndex(n, 'segmentSize');
  if (!isSegmentSize(v)) throw new RangeError(`segmentSize must be a power of two from ${MIN_SEGMENT} to ${MAX_SEGMENT}, got ${v}`);
  return v;
}

/**
 * The entries of one batch record, from `ops`: every op checked, each op
 * and each of its fields read once, values as snapshots. A delete becomes a
 * tombstone only for a key present at that point of the batch (`has` for
 * the store, then the batch's own ops), decided once every op was read: a
 * getter of an op may itself write to the store. `puts` tells whether any
 * op adds data.
 * @throws TypeError, RangeError for a bad op
 */
export function batchEntries(ops: unknown, has: (key: string) => boolean): { entries: Entry[]; puts: boolean } {
  if (!Array.isArray(ops)) throw new TypeError('ops must be an array');
  const read: Entry[] = [];
  let puts = false;
  let dels = false;
  // The last value taken as the caller's own bytes (snapshotBytes keeps a
  // view of a plain ArrayBuffer as it is): copied before the next op is
  // read, since a getter there may write them. The last op's value is
  // written as it is: no user code runs after it is read. The caller's
  // views and their lengths are kept, to refuse one a later getter
  // detached (below).
  let own: Entry | null = null;
  const copies = new Copies();
  const views: Array<Uint8Array | number> = [];
  // Each op, and each of its fields, is read once; values are snapshots.
  const n = ops.length;
  for (let i = 0; i < n; i++) {
    if (own !== null) {
      own.value = copies.keep(own.value as Uint8Array);
      own = null;
    }
    const op = ops[i] as unknown;
    if (op === null || typeof op !== 'object') throw new TypeError(`ops[${i}] must be an object`);
    const { type } = op as { type: unknown };
    const k = keyOf((op as { key: unknown }).key, `ops[${i}].key`);
    if (type === 'put') {
      const value = (op as { value: unknown }).value;
      const name = `ops[${i}].value`;
      const e = entry(ENTRY_PUT, k, null, 0);
      setValue(e, value, name);
      if (typeof e.value !== 'string') {
        const v = snapshotBytes(e.value, name);
        checkValueLength(v.length, name); // the snapshot's own length is the one written
        e.value = v;
        e.vlen = v.length;
        if (v === value) {
          own = e;
          views.push(v, v.length);
        }
      }
      read.push(e);
      puts = true;
    } else if (type === 'del') {
      read.push(entry(ENTRY_DEL, k, null, 0));
      dels = true;
    } else {
      throw new TypeError(`ops[${i}].type must be 'put' or 'del'`);
    }
  }
  // A getter of a later op may have detached the buffer of an earlier
  // value: refused, as a value with no bytes, once the last user code ran,
  // before anything is written.
  for (let i = 0; i < views.length; i += 2) {
    if (!unchanged(views[i] as Uint8Array, views[i + 1] as number)) throw new TypeError('a value of the batch changed while the batch was read');
  }
  if (!dels) return { entries: read, puts };
  // A tombstone only for a key that is there at its point of the batch,
  // asked of the store now that no user code runs before the write.
  const entries: Entry[] = [];
  const present = new Map<string, boolean>();
  for (const e of read) {
    const put = e.type === ENTRY_PUT;
    if (put || (present.get(e.key) ?? has(e.key))) entries.push(e);
    present.set(e.key, put);
  }
  return { entries, puts };
}

/** Values up to this size are copied into a batch's shared chunks; a larger one gets a buffer of its own. */
const SHARED_COPY = 16 * 1024;
/** The first chunk's size; each next one doubles, up to CHUNK_MAX. */
const CHUNK_MIN = 4096;
const CHUNK_MAX = 256 * 1024;

/**
 * Copies of one batch's values: small ones side by side in a few chunks,
 * not a buffer each (an ArrayBuffer per value cost more than the write of a
 * 16-op batch). Each call has its own: a getter may start another batch.
 */
class Copies {
  #chunk: Uint8Array | null = null;
  #used = 0;

  keep(v: Uint8Array): Uint8Array {
    const n = v.length;
    if (n > SHARED_COPY) return new Uint8Array(v);
    let c = this.#chunk;
    if (c === null || this.#used + n > c.length) {
      c = this.#chunk = new Uint8Array(Math.max(n, c === null ? CHUNK_MIN : Math.min(2 * c.length, CHUNK_MAX)));
      this.#used = 0;
    }
    const at = this.#used;
    c.set(v, at);
    this.#used = at + n;
    return new Uint8Array(c.buffer, at, n); // the constructor, not subarray(): no species lookup
  }
}

const OPEN_OPTIONS = ['size', 'create', 'readOnly', 'maxSize', 'segmentSize'];
const DEFAULT_SIZE = 64 * 1024 * 1024;

/**
 * KVStore.open's options, checked: `maxSize` is 0 when not given.
 * @throws TypeError, RangeError
 */
export function openArgs(options: unknown): { create: boolean; readOnly: boolean; size: number; segmentSize: number; maxSize: number } {
  const o = checkOptions(options, OPEN_OPTIONS) as KVOpenOptions;
  const create = checkBoolean(o.create === undefined ? false : o.create, 'create');
  const readOnly = checkBoolean(o.readOnly === undefined ? false : o.readOnly, 'readOnly');
  if (create && readOnly) throw new TypeError('create and readOnly cannot be combined');
  const givenSize = o.size === undefined ? undefined : checkIndex(o.size, 'size');
  const segmentSize = checkSegmentSize(o.segmentSize === undefined ? DEFAULT_SEGMENT : o.segmentSize);
  if (givenSize !== undefined && givenSize > MAX_FILE) throw new RangeError(`size must be at most ${MAX_FILE}, got ${givenSize}`);
  // Undefined when not given: a maxSize of 0 given is a bound like any
  // other, below every store's least size.
  const maxSize = o.maxSize === undefined ? undefined : checkIndex(o.maxSize, 'maxSize');
  if (maxSize !== undefined && maxSize > MAX_FILE) throw new RangeError(`maxSize must be at most ${MAX_FILE}, got ${maxSize}`);
  // A new store is never made larger than it may grow: a size past maxSize
  // contradicts it, and the default size gives way to a smaller maxSize.
  if (givenSize !== undefined && maxSize !== undefined && maxSize < givenSize) {
    throw new RangeError(`maxSize (${maxSize}) is below size (${givenSize}): a store never grows past maxSize`);
  }
  const size = givenSize ?? (maxSize !== undefined ? Math.min(DEFAULT_SIZE, maxSize) : DEFAULT_SIZE);
  // An existing file below maxSize 0 is taken as its own size, as below any other (KVStore.open).
  return { create, readOnly, size, segmentSize, maxSize: maxSize ?? 0 };
}

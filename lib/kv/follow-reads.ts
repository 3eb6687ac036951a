// What a read-only KVStore's calls run inside KvFollower.read (follow.ts):
// plain functions of the log and the call's arguments, so that a get
// allocates no closure, and a key given as bytes is looked up by them, as
// the writer's own get does. They read bytes a free may have reused under
// them (KvFollower.read then runs them again): every length is checked
// before anything is allocated or copied, and what they return is a copy.
import { isUint8Array, viewLength } from '../core/args';
import type { KVData } from './args';
import { keyOf } from './args';
import { ENTRY_HEADER_BYTES, ENTRY_PUT, keyLength, MAX_KEY, valueInto, valueLength } from './format';
import type { KvLog } from './log';

/** A key as the reader's lookups take it: its bytes as given, or the one-byte string of its UTF-8 bytes. */
export type ReaderKey = string | Uint8Array;

/**
 * Checks `key` before any read: the same TypeError and RangeError as the
 * writer's calls.
 */
export function readerKey(key: KVData): ReaderKey {
  if (isUint8Array(key)) {
    // Its length through the view's internal slot, as the writer's calls
    // read it (viewLength); a Proxy is not a Uint8Array (keyOf's TypeError).
    const n = viewLength(key, 'key');
    if (n > MAX_KEY) throw new RangeError(`key is ${n} bytes; the limit is ${MAX_KEY}`);
    return key;
  }
  return keyOf(key);
}

/**
 * Where the last lookup found its entry (-1: nowhere). A read that found
 * one read the mapping there, in that entry's segment run, and (for the
 * lookup's comparisons) at entries of the same hash: KvFollower.read
 * checks that segment alone when segments were freed during the read.
 */
export const found = { offset: -1 };

/** The offset of the entry of `key`, or undefined. */
function offsetOf(log: KvLog, key: ReaderKey): number | undefined {
  const off = typeof key === 'string' ? log.index.get(key) : log.index.getBytes(key);
  found.offset = off ?? -1;
  return off;
}

/**
 * The length of the value of the entry at `off`, checked before anything is
 * allocated for it: the bytes there may have been reused.
 * @throws RangeError when they are no longer a put, or the value would end
 *   past the mapping
 */
function checkedLength(b: Uint8Array, off: number): number {
  const len = valueLength(b, off);
  if (b[off] !== ENTRY_PUT || off + ENTRY_HEADER_BYTES + keyLength(b, off) + len > b.length) {
    throw new RangeError('an entry changed under the read');
  }
  return len;
}

/** KVStore.get: a copy of the value of `key`, or undefined. */
export function readValue(log: KvLog, key: ReaderKey): Buffer | undefined {
  const off = offsetOf(log, key);
  if (off === undefined) return undefined;
  const b = log.view;
  const len = checkedLength(b, off);
  const start = off + ENTRY_HEADER_BYTES + keyLength(b, off);
  const out = Buffer.allocUnsafe(len);
  out.set(b.subarray(start, start + len));
  return out;
}

/** KVStore.getString: the value of `key` decoded as UTF-8, or undefined. */
export function readString(log: KvLog, key: ReaderKey): string | undefined {
  const off = offsetOf(log, key);
  if (off === undefined) return undefined;
  const b = log.bytes;
  const len = checkedLength(b, off);
  const start = off + ENTRY_HEADER_BYTES + keyLength(b, off);
  return b.toString('utf8', start, start + len);
}

/**
 * KVStore.getInto, the writer's copy (format.ts): it allocates nothing, so
 * a length read from reused bytes can only throw or copy bytes of the
 * mapping, which the check after the read then discards.
 */
export function readInto(log: KvLog, key: ReaderKey, target: Uint8Array): number {
  return valueInto(log, offsetOf(log, key), target, viewLength(target, 'target'));
}

/** KVStore.has. */
export function readHas(log: KvLog, key: ReaderKey): boolean {
  return offsetOf(log, key) !== undefined;
}

/** KVStore.count. */
export function readCount(log: KvLog): number {
  return log.index.size;
}

// What a read-only KVStore's calls run inside KvFollower.read (follow.ts):
// plain functions of the log and the call's arguments, so that a get
// allocates no closure, and a key given as bytes is looked up by them, as
// the writer's own get does. They read bytes a free may have reused under
// them (KvFollower.read then runs them again): every length is checked
// before anything is allocated or copied, and what they return is a copy.
import type { KVData } from './args';
import { keyOf } from './args';
import { ENTRY_HEADER_BYTES, ENTRY_PUT, MAX_KEY } from './format';
import type { KvLog } from './log';

/** A key as the reader's lookups take it: its bytes as given, or the one-byte string of its UTF-8 bytes. */
export type ReaderKey = string | Uint8Array;

/**
 * Checks `key` before any read: the same TypeError and RangeError as the
 * writer's calls.
 */
export function readerKey(key: KVData): ReaderKey {
  if (key instanceof Uint8Array) {
    if (key.length > MAX_KEY) throw new RangeError(`key is ${key.length} bytes; the limit is ${MAX_KEY}`);
    return key;
  }
  return keyOf(key);
}

/** The offset of the entry of `key`, or undefined. */
function offsetOf(log: KvLog, key: ReaderKey): number | undefined {
  return typeof key === 'string' ? log.index.get(key) : log.index.getBytes(key);
}

/**
 * Where the value of the entry at `off` starts, checked before anything
 * is allocated: the bytes there may have been reused.
 * @throws RangeError when they are no longer a put
 */
function valueStart(b: Uint8Array, off: number): number {
  if (b[off] !== ENTRY_PUT) throw new RangeError('an entry changed under the read');
  return off + ENTRY_HEADER_BYTES + (b[off + 2] | (b[off + 3] << 8));
}

/**
 * Where the value of the entry at `off`, starting at `start`, ends.
 * @throws RangeError when that is past the mapping (reused bytes)
 */
function valueEnd(b: Uint8Array, off: number, start: number): number {
  const end = start + (b[off + 4] | (b[off + 5] << 8) | (b[off + 6] << 16)) + b[off + 7] * 0x1000000;
  if (end > b.length) throw new RangeError('an entry changed under the read');
  return end;
}

/** KVStore.get: a copy of the value of `key`, or undefined. */
export function readValue(log: KvLog, key: ReaderKey): Buffer | undefined {
  const off = offsetOf(log, key);
  if (off === undefined) return undefined;
  const b = log.view;
  const start = valueStart(b, off);
  const end = valueEnd(b, off, start);
  const out = Buffer.allocUnsafe(end - start);
  out.set(b.subarray(start, end));
  return out;
}

/** KVStore.getString: the value of `key` decoded as UTF-8, or undefined. */
export function readString(log: KvLog, key: ReaderKey): string | undefined {
  const off = offsetOf(log, key);
  if (off === undefined) return undefined;
  const b = log.bytes;
  const start = valueStart(b, off);
  return b.toString('utf8', start, valueEnd(b, off, start));
}

/**
 * KVStore.getInto: copies the value of `key` to the start of `target`.
 * @returns its length, or -1 when the key is absent
 * @throws RangeError when `target` is shorter (nothing is written)
 */
export function readInto(log: KvLog, key: ReaderKey, target: Uint8Array): number {
  const off = offsetOf(log, key);
  if (off === undefined) return -1;
  const b = log.view;
  const start = valueStart(b, off);
  const end = valueEnd(b, off, start);
  if (end - start > target.length) throw new RangeError(`target is ${target.length} bytes; the value is ${end - start}`);
  target.set(b.subarray(start, end));
  return end - start;
}

/** KVStore.has. */
export function readHas(log: KvLog, key: ReaderKey): boolean {
  return offsetOf(log, key) !== undefined;
}

/** KVStore.count. */
export function readCount(log: KvLog): number {
  return log.index.size;
}

/** The keys of `range`, as one-byte strings, copied out of the index. */
export function readKeys(log: KvLog, range: Parameters<KvLog['index']['range']>[0]): string[] {
  return [...log.index.range(range)];
}

// Argument checks and conversions of the KVStore API. Keys become one-byte
// ("latin1") strings of their bytes: the index's key, and the form whose
// string order is byte order.
import { types } from 'node:util';

import { snapshotBytes } from '../core/args';
import { MAX_KEY, MAX_VALUE } from './format';

/** A key or value: bytes, or a string stored as UTF-8. */
export type KVData = Buffer | Uint8Array | string;

/** The one-byte string of a key's bytes. @throws TypeError, RangeError */
export function keyOf(key: unknown, name = 'key'): string {
  let k: string;
  if (typeof key === 'string') {
    // ASCII strings already are their own UTF-8 bytes, and a string is
    // ASCII exactly when its UTF-8 form is as long as it is (every other
    // char takes 2 to 4 bytes): a native count, faster than a regex test.
    k = Buffer.byteLength(key, 'utf8') === key.length ? key : Buffer.from(key, 'utf8').toString('latin1');
  } else if (types.isUint8Array(key)) {
    // Read once: the key string is the snapshot.
    const u8 = snapshotBytes(key, name);
    if (u8.length > MAX_KEY) throw new RangeError(`${name} is ${u8.length} bytes; the limit is ${MAX_KEY}`);
    // A Buffer decodes itself; a plain Uint8Array needs a Buffer over it first.
    k = u8 instanceof Buffer ? u8.toString('latin1') : Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('latin1');
  } else {
    throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${key === null ? 'null' : typeof key}`);
  }
  if (k.length > MAX_KEY) throw new RangeError(`${name} is ${k.length} bytes; the limit is ${MAX_KEY}`);
  return k;
}

/**
 * A value as bytes or string, with its length in bytes, read once (see
 * snapshotBytes). @throws TypeError, RangeError
 */
export function valueOf(value: unknown, name = 'value'): { v: Uint8Array | string; len: number } {
  let len: number;
  if (typeof value === 'string') len = Buffer.byteLength(value, 'utf8');
  else if (types.isUint8Array(value)) {
    value = snapshotBytes(value, name);
    len = (value as Uint8Array).length;
  } else throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${value === null ? 'null' : typeof value}`);
  if (len > MAX_VALUE) throw new RangeError(`${name} is ${len} bytes; the limit is ${MAX_VALUE}`);
  return { v: value as Uint8Array | string, len };
}

export { checkBoolean, checkOptions } from '../core/args';

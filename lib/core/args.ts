// Argument checks for the public API: TypeError for a wrong type, RangeError
// for a bad value. Native code checks again and never relies on these.
import { types } from 'node:util';

/** The type of `value` as a message names it: `typeof`, with null apart from the objects. */
export function typeName(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

export function checkIndex(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number, got ${typeName(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
  return value;
}

/** Checks that [offset, offset + length) lies inside [0, size). */
export function checkRange(offset: unknown, length: unknown, size: number): void {
  const off = checkIndex(offset, 'offset');
  const len = checkIndex(length, 'length');
  if (off > size || len > size - off) {
    throw new RangeError(`range [${off}, +${len}) is outside [0, ${size})`);
  }
}

/**
 * `n` rounded up to a multiple of 8. Arithmetic, not `(n + 7) & ~7`: bit
 * operators truncate to 32 bits, and a byte count of 2^31 or more would
 * come out negative.
 */
export function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Buffer or Uint8Array`);
  }
  // A view of a detached ArrayBuffer (a closed Mapping's, a transferred
  // one) has length 0: written as it is, the call would succeed and store
  // nothing the caller gave.
  if (isUint8Array(value) && lengthOfView.call(value) === 0) refuseDetached(value, name);
  return value;
}

// Intrinsic accessors, read through the internal slots: no getter, Proxy
// trap or own property of the argument runs.
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const lengthOfView = Object.getOwnPropertyDescriptor(typedArrayProto, 'length')?.get as (this: Uint8Array) => number;
const bufferOfView = Object.getOwnPropertyDescriptor(typedArrayProto, 'buffer')?.get as (this: Uint8Array) => ArrayBufferLike;
const offsetOfView = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteOffset')?.get as (this: Uint8Array) => number;
const isResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get as ((this: ArrayBuffer) => boolean) | undefined;
// Read once: the `node:util` module object is in dictionary mode, so a
// `types.isUint8Array` in a function is a property lookup on every call
// (a call to V8's generic LoadIC in optimized code). Hot paths elsewhere
// import this one.
export const isUint8Array = types.isUint8Array;
const { isSharedArrayBuffer } = types;
// The two prototypes a view is taken as it is with, read once: Node's global
// `Buffer` is an accessor (internal/bootstrap/node.js), so every `Buffer` in
// a function is a getter call that the optimizing compiler does not fold.
const bufferPrototype = Buffer.prototype as object;
const uint8ArrayPrototype = Uint8Array.prototype as object;

/**
 * Whether `view` shows any byte of `bytes` (a structure's own region, which
 * a caller holding its Mapping or CrashSim can pass as a value). Internal
 * slots only: no getter of `view` runs.
 */
export function viewsInto(view: Uint8Array, bytes: Uint8Array): boolean {
  if (bufferOfView.call(view) !== bufferOfView.call(bytes)) return false;
  const at = offsetOfView.call(view);
  const from = offsetOfView.call(bytes);
  return at + lengthOfView.call(view) > from && at < from + lengthOfView.call(bytes);
}

/**
 * `data`, or a copy of it when it is a view of `bytes` (viewsInto). A
 * structure writes a record's header, or moves bytes, in its region before
 * it copies the record's source: a source inside the region may be written
 * over before it is read. Used by every writer that copies a caller's bytes
 * into its region.
 */
export function apartFrom<T extends Uint8Array | string>(data: T, bytes: Uint8Array): T {
  return typeof data !== 'string' && viewsInto(data, bytes) ? (new Uint8Array(data) as T) : data;
}

/**
 * Bytes from the user, read once: a Uint8Array whose length and contents
 * no later user code can change before they are written. A Buffer or
 * Uint8Array over a plain fixed-length ArrayBuffer is returned as it is;
 * one over a SharedArrayBuffer (another thread may write or grow it) or a
 * resizable ArrayBuffer, a subclass or an instance with its own `length`,
 * is copied, length and bytes in one step. A Proxy is not a Uint8Array.
 * Callers that run user code after this (reading the next element of a
 * batch) check `unchanged` before they write.
 * @throws TypeError
 */
export function snapshotBytes(value: unknown, name: string): Uint8Array {
  if (!isUint8Array(value)) throw new TypeError(`${name} must be a Buffer or Uint8Array`);
  const u8 = value as Uint8Array;
  if (lengthOfView.call(u8) === 0) refuseDetached(u8, name);
  // An element load runs no user code (a typed array's indexes never reach
  // its prototype, even past its end), and it leaves V8 a map check on
  // `u8`: with the map known, the optimizing compiler folds
  // `Object.getPrototypeOf` below into a constant instead of calling into
  // the runtime (docs/bench.md, "Log structures").
  void u8[0];
  const proto = Object.getPrototypeOf(u8) as unknown;
  if ((proto !== bufferPrototype && proto !== uint8ArrayPrototype) || Object.prototype.hasOwnProperty.call(u8, 'length')) {
    return new Uint8Array(u8);
  }
  // The `resizable` getter is false for a fixed-length ArrayBuffer and
  // throws for a SharedArrayBuffer (of any realm): one check for both.
  let fixed: boolean;
  try {
    const buffer = bufferOfView.call(u8);
    fixed = isResizable !== undefined ? !isResizable.call(buffer as ArrayBuffer) : !isSharedArrayBuffer(buffer);
  } catch {
    fixed = false;
  }
  return fixed ? u8 : new Uint8Array(u8);
}

// String.prototype.isWellFormed (Node 20's V8; ES2024, past the lib this package compiles against).
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/**
 * Refuses a string with a lone surrogate, which has no UTF-8 form: encoded,
 * it would be stored as U+FFFD and read back as another string than the
 * one written.
 * @throws TypeError
 */
export function checkWellFormed(s: string, name: string): void {
  if (!isWellFormed.call(s)) throw new TypeError(`${name} must be a well-formed string: a lone surrogate has no UTF-8 form`);
}

/** The UTF-8 bytes of a well-formed string (checkWellFormed). @throws TypeError */
export function utf8(s: string, name: string): Buffer {
  checkWellFormed(s, name);
  return Buffer.from(s, 'utf8');
}

/**
 * The length of `value`, a Buffer or Uint8Array, read through its internal
 * slot: an own `length` property or a subclass's getter cannot change it.
 * @throws TypeError for anything else
 */
export function viewLength(value: unknown, name: string): number {
  if (!isUint8Array(value)) throw new TypeError(`${name} must be a Buffer or Uint8Array`);
  const n = lengthOfView.call(value as Uint8Array);
  if (n === 0) refuseDetached(value as Uint8Array, name);
  return n;
}

/**
 * Refuses a view whose ArrayBuffer was detached (transferred, or a closed
 * mapping's): its length reads 0, and taken as empty bytes it would store
 * an empty key or value the caller never gave. Asked only of a view of
 * length 0: a view over a detached buffer cannot be made, an empty one over
 * a live buffer (or a SharedArrayBuffer) can.
 * @throws TypeError
 */
function refuseDetached(u8: Uint8Array, name: string): void {
  try {
    new Uint8Array(bufferOfView.call(u8) as ArrayBuffer, 0, 0);
  } catch {
    throw new TypeError(`${name} is a view of a detached ArrayBuffer`);
  }
  // A view of a resizable ArrayBuffer shrunk below its end reads as length
  // 0 too, and would be stored as empty bytes. `set` refuses such a view
  // (IsTypedArrayOutOfBounds), and writes nothing into an empty one.
  try {
    setOfView.call(u8, NO_BYTES);
  } catch {
    throw new TypeError(`${name} is a view past the end of its resizable ArrayBuffer, which was shrunk`);
  }
}
const setOfView = (typedArrayProto as { set: (this: Uint8Array, from: ArrayLike<number>) => void }).set;
const NO_BYTES: ArrayLike<number> = Object.freeze([]);

/** The ArrayBuffer and byte offset of a Uint8Array, read through its internal slots. */
export function viewPlace(bytes: Uint8Array): { buffer: ArrayBufferLike; byteOffset: number } {
  return { buffer: bufferOfView.call(bytes), byteOffset: offsetOfView.call(bytes) };
}

/** Whether a snapshot of `length` bytes still has them (a later getter may have detached its buffer). */
export function unchanged(bytes: Uint8Array, length: number): boolean {
  return lengthOfView.call(bytes) === length;
}

/**
 * `options` as a record whose keys are all in `allowed`.
 * @throws TypeError when it is not an object, or has a key not allowed
 */
export function checkOptions(options: unknown, allowed: readonly string[] | ReadonlySet<string>): Record<string, unknown> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const known = Array.isArray(allowed) ? (k: string) => allowed.includes(k) : (k: string) => (allowed as ReadonlySet<string>).has(k);
  for (const key of Object.keys(options)) {
    if (!known(key)) throw new TypeError(`unknown option '${key}'`);
  }
  return options as Record<string, unknown>;
}

/** @throws TypeError unless `value` is a boolean */
export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return value;
}

/** @throws TypeError unless `path` (an argument or option called `name`) is a non-empty string without a NUL byte */
export function checkPath(path: unknown, name = 'path'): string {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`${name} must be a non-empty string`);
  // The system calls take a C string: a NUL would cut the path short there,
  // and the call would open or create the file named by the part before it.
  if (path.includes('\0')) throw new TypeError(`${name} must not contain a NUL byte`);
  return path;
}

/**
 * Whether `value` is a promise or any other thenable. Transactions and
 * crash tests are synchronous and refuse one: its work would run after
 * they ended, and its throws would be lost.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function';
}

// Argument checks for the public API: TypeError for a wrong type, RangeError
// for a bad value. Native code checks again and never relies on these.

export function checkIndex(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number, got ${typeof value}`);
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
  return value;
}

import { checkIndex, checkRange, viewLength } from './args';
import { binding } from './binding';

/**
 * CRC-32C (Castagnoli) of `data[offset, offset + length)`, native (SSE4.2).
 * Chain with `seed`: crc32c(b, 0, b.length, crc32c(a)) equals crc32c(a ‖ b).
 */
export function crc32c(data: Uint8Array, offset = 0, length?: number, seed = 0): number {
  // The length of data through its internal slot: an own `length` property
  // changes neither the default nor the bound.
  const size = viewLength(data, 'data');
  // The offset is checked before the default length is computed from it: a
  // bigint would throw from the subtraction, and an offset past the end
  // would be reported as a negative length.
  const off = checkIndex(offset, 'offset');
  const len = length === undefined ? Math.max(size - off, 0) : length;
  checkRange(off, len, size);
  checkIndex(seed, 'seed');
  if (seed > 0xffffffff) throw new RangeError('seed must be a uint32');
  return binding.crc32c(data, off, len, seed);
}

import { checkIndex } from '../core/args';

/**
 * A small seeded generator (mulberry32) returning numbers in [0, 1): the
 * same seed gives the same sequence, so a crash image, a kill moment or a
 * fuzz mutation can be reproduced from its seed. A seed past 2^32 (up to
 * 2^53) has its high bits folded into the 32-bit state, so that seeds that
 * differ only there give other sequences. The seed is a safe integer
 * (0..2^53 - 1), as crashTest's and killTest's are: a fraction, NaN or a
 * string would be folded to an integer seed and give its sequence.
 * @throws TypeError for a seed that is not a number; RangeError for one that
 *   is not a non-negative safe integer
 */
export function seededRandom(seed: number): () => number {
  checkIndex(seed, 'seed');
  const high = Math.floor(seed / 4294967296) >>> 0;
  let a = (seed >>> 0) ^ Math.imul(high, 0x9e3779b1);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

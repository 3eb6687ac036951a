// The admission sketch hashes keys from a seed each process draws
// (lib/cache/hotness.ts): two keys crafted to share a hash under the
// unseeded FNV-1a do not share the sketch's counters, so a key never used
// does not inherit a hot key's count.
import { FrequencySketch, hashKey } from '../lib/cache/hotness';

const P = 0x01000193;

/** FNV-1a over UTF-16 code units from the unseeded basis, as the sketch hashed keys. */
function unseeded(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), P);
  return h >>> 0;
}

/**
 * Two keys of the same unseeded hash: a common prefix, then two code units
 * each. (s ^ c1) * P for two c1 of the same high 16 bits, and a second unit
 * that evens out the low 16, leave one state: found in one pass over c1.
 */
function collidingPair(prefix: string): [string, string] {
  let s = 0x811c9dc5;
  for (let i = 0; i < prefix.length; i++) s = Math.imul(s ^ prefix.charCodeAt(i), P);
  const byHigh = new Map<number, number>();
  for (let c1 = 0; c1 < 0x10000; c1++) {
    const v = Math.imul(s ^ c1, P) >>> 0;
    const d1 = byHigh.get(v >>> 16);
    if (d1 === undefined) {
      byHigh.set(v >>> 16, c1);
      continue;
    }
    const w = Math.imul(s ^ d1, P) >>> 0;
    const c2 = 0x41;
    const d2 = (v ^ c2 ^ w) & 0xffff;
    return [prefix + String.fromCharCode(c1, c2), prefix + String.fromCharCode(d1, d2)];
  }
  throw new Error('no pair');
}

test("a key crafted to share a hot key's unseeded hash does not share its count in the sketch", () => {
  const [hot, crafted] = collidingPair('user:');
  expect(hot).not.toBe(crafted);
  expect(unseeded(hot)).toBe(unseeded(crafted));
  expect(hashKey(hot)).not.toBe(hashKey(crafted));
  const sketch = new FrequencySketch(1 << 16, 1e9);
  for (let i = 0; i < 50; i++) sketch.add(hashKey(hot), i);
  expect(sketch.estimate(hashKey(hot), 50)).toBe(50);
  // Under the unseeded hash the crafted key read 50 too: every counter was the hot key's.
  expect(sketch.estimate(hashKey(crafted), 50)).toBeLessThan(5);
});

// KVStore's writes clean the log as they go once few segments are free: no
// write pays for more than one bounded step of compaction (its copies and
// the free of a segment), and a write that needs more free segments than
// the writes keep free still gets them. A write's cost here is the bytes it
// flushes, counted by a Region over the mapping; a full compaction inside
// one put (the old way) flushes every live entry of the store in that put.
import { KVStore, openMapping, type Mapping, type Region } from '../lib/index';
import { tmpFile } from './helpers';

const SEGMENT = 64 * 1024;
const SEGMENTS = 32;
const SIZE = 4096 + SEGMENTS * SEGMENT;
/** The step's budget at this segment size (lib/kv/log.ts, stepBytes): an eighth of a segment. */
const STEP = SEGMENT / 8;
const VALUE = Buffer.alloc(100, 7);
const key = (i: number): string => `k${String(i).padStart(15, '0')}`;

/** The mapping as a Region that counts the bytes flushed (persist included); no sealRecord, so records are flushed through it. */
function counting(m: Mapping): Region & { flushed: number } {
  const r = {
    flushed: 0,
    get bytes() { return m.bytes; },
    length: m.length,
    granularity: m.granularity,
    flush: (o: number, l: number) => {
      r.flushed += l;
      m.flush(o, l);
    },
    drain: () => m.drain(),
    persist: (o: number, l: number) => {
      r.flushed += l;
      m.persist(o, l);
    },
  };
  return r;
}

/** Overwrites `keys` keys at random `n` times; returns the bytes each put flushed. */
function overwrite(kv: KVStore, region: { flushed: number }, keys: number, n: number, seed: number): number[] {
  const per: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const before = region.flushed;
    kv.put(key(x % keys), VALUE);
    per.push(region.flushed - before);
  }
  return per;
}

test('no put pays for more than one bounded step of compaction', () => {
  const path = tmpFile('kv-steps');
  const m = openMapping(path, { create: true, size: SIZE });
  try {
    const region = counting(m);
    const kv = KVStore.openRegion(region, { create: true, segmentSize: SEGMENT });
    // 2000 live keys (about 4.5 segments of 144-byte records), written
    // over ten times (about 44 segments' worth, in a store of 32).
    const keys = 2000;
    for (let i = 0; i < keys; i++) kv.put(key(i), VALUE);
    const per = overwrite(kv, region, keys, 20000, 7);
    // Each put's cost bounded by one step: its copies (the budget, and the
    // rest of the record it stopped in), their record and segment headers,
    // a free, and the put's own record. A full compaction would flush the
    // store's ~290 KB of live entries in one put.
    expect(Math.max(...per)).toBeLessThanOrEqual(STEP + 4096);
    // Segments were freed (the frees word at 2056 counts them), by puts
    // that paid a step each, and few puts paid one at all.
    expect(Number(m.bytes.readBigUInt64LE(2056))).toBeGreaterThan(10);
    const stepping = per.filter((b) => b > 1024).length;
    expect(stepping).toBeGreaterThan(10);
    expect(stepping).toBeLessThan(per.length / 20);
    kv.close();
    const again = KVStore.openRegion(m);
    expect(again.count).toBe(keys);
    for (let i = 0; i < keys; i += 97) expect(again.get(key(i))).toEqual(VALUE);
    again.close();
  } finally {
    m.close();
    require('node:fs').rmSync(path, { force: true });
  }
});

test('a write that needs more free segments than the pacing keeps cleans until it has them', () => {
  const path = tmpFile('kv-steps-big');
  const m = openMapping(path, { create: true, size: SIZE });
  try {
    const region = counting(m);
    const kv = KVStore.openRegion(region, { create: true, segmentSize: SEGMENT });
    const keys = 2000;
    for (let i = 0; i < keys; i++) kv.put(key(i), VALUE);
    overwrite(kv, region, keys, 12000, 3);
    // A value of as many segments as are free needs a run of one more,
    // and 2 more left free: only cleaning beyond the pacing frees those.
    const free = kv.stats().segments.free;
    expect(free).toBeLessThanOrEqual(6);
    const big = Buffer.alloc(free * SEGMENT, 9);
    kv.put('big', big);
    overwrite(kv, region, keys, 4000, 5);
    kv.close();
    const again = KVStore.openRegion(m);
    expect(again.count).toBe(keys + 1);
    expect(again.get('big')).toEqual(big);
    for (let i = 0; i < keys; i += 101) expect(again.get(key(i))).toEqual(VALUE);
    again.close();
  } finally {
    m.close();
    require('node:fs').rmSync(path, { force: true });
  }
});

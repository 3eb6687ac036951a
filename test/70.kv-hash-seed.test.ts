// The index's key hash is seeded per process (lib/kv/hash-index.ts,
// KEY_HASH_SEED): keys chosen to share one probe path under the hash as
// the source code computes it without a seed do not share one here, and a
// store of them reopens with every key found.
import { KVStore } from '../lib';
import { KEY_HASH_SEED, KvIndex } from '../lib/kv/hash-index';
import { tmpFile } from './helpers';

/** The index's hash with no seed: FNV-1a from its published basis, and fmix32. */
function unseeded(k: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const BITS = 12;
const MASK = (1 << BITS) - 1;

/** `n` keys whose unseeded hashes all have the same low 12 bits: one home slot in a table of up to 4,096 slots, and one probe cluster in any larger one that shares those bits. */
function crafted(n: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) {
    const k = `user:${i.toString(36)}`;
    if ((unseeded(k) & MASK) === 0) keys.push(k);
  }
  return keys;
}

describe("the index's key hash", () => {
  const keys = crafted(400);

  test('spreads keys crafted to collide under the unseeded hash', () => {
    expect(new Set(keys.map((k) => unseeded(k) & MASK)).size).toBe(1);
    // 400 keys at random over 4,096 home slots fill about 380 of them.
    const homes = new Set(keys.map((k) => KvIndex.hash(k) & MASK));
    expect(homes.size).toBeGreaterThan(300);
  });

  test('is drawn afresh by each load of the module, as by each process', () => {
    const seeds = new Set<number>([KEY_HASH_SEED]);
    for (let i = 0; i < 3; i++) {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        seeds.add((require('../lib/kv/hash-index') as typeof import('../lib/kv/hash-index')).KEY_HASH_SEED);
      });
    }
    expect(seeds.size).toBe(4);
    for (const s of seeds) expect(s >>> 0).toBe(s);
  });

  test('a store of those keys finds each of them, and again after a reopen (the native scan hashes under the seed)', () => {
    const file = tmpFile('kv-hash-seed');
    const db = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    keys.forEach((k, i) => db.put(k, `v${i}`));
    db.batch(keys.slice(0, 50).map((k) => ({ type: 'del' as const, key: k })));
    const check = (s: KVStore): void => {
      keys.forEach((k, i) => expect(s.get(k)?.toString()).toBe(i < 50 ? undefined : `v${i}`));
      expect(s.count).toBe(keys.length - 50);
    };
    check(db);
    db.close();
    const again = KVStore.open(file);
    check(again);
    again.close();
  });
});

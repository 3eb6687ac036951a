// TieredCache against a hostile caller, continued: a cache that lives long
// enough for its hotness scores to be rescaled, a file reopened with
// another encoding, json values whose own code throws, a region closed
// under the cache, sizes at and past the DRAM bound and lru-cache's
// calculatedSize, records that pass their checksum but that no set writes,
// and tiers small enough that making room in DRAM evicts the very entry
// being promoted or set.
import * as fs from 'node:fs';

import { TieredCache, openMapping } from '../lib';
import { CrashSim } from '../lib/testing';
import { resealSlot } from './fixtures/cache/reseal';
import { expectPmemError, expectThrowName, rng, tmpFile } from './helpers';

describe('TieredCache hotness, hostile', () => {
  test('the access that rescales every score counts once, not 2^512 times: the entry it touches is not pinned in DRAM', () => {
    // With a half-life of 2 accesses the scores are rescaled near the
    // 1,024th access; each run puts the DRAM hit of 'a' at another access
    // around it, and then 'b', asked for 40 times, must take a's place.
    for (let at = 1010; at < 1040; at++) {
      const c = new TieredCache({ region: new CrashSim(64 + 256 * 64), halfLife: 2, dramEntries: 1 });
      c.set('a', Buffer.from('a'));
      for (let i = 1; i < at; i++) c.get(`miss${i}`);
      expect(c.get('a')).toEqual(Buffer.from('a'));
      for (let i = 0; i < 40; i++) if (c.get('b') === undefined) c.set('b', Buffer.from('b'));
      const s = c.stats();
      expect([at, s.promotions, s.rejected]).toEqual([at, 1, 1]);
      expect([at, s.hits.dram]).toEqual([at, 1 + 38]);
      c.close();
    }
  });
});

describe('TieredCache encodings, hostile', () => {
  test('an entry written with another encoding, evicted from PMem while DRAM holds it, is written back under its own tag', () => {
    const file = tmpFile('reencode.cache');
    let c = new TieredCache<unknown>({ file, pmemBytes: 64 + 256 * 4, encoding: 'utf8', writeMode: 'write-through' });
    c.set('n', '123');
    c.set('s', 'hello');
    c.close();
    c = new TieredCache<unknown>({ file, encoding: 'json', dramEntries: 100, writeMode: 'write-through' });
    // Both in DRAM, clean, as the strings they were written as.
    expect([c.get('n'), c.get('s')]).toEqual(['123', 'hello']);
    const before = c.stats().evictions;
    for (let i = 0; i < 8; i++) c.set(`x${i}`, i);
    expect(c.stats().evictions - before).toBeGreaterThanOrEqual(2);
    // DRAM now holds the only copies: room on PMem for close() to write them.
    for (const key of [...c.keys()]) if (key !== 'n' && key !== 's') c.delete(key);
    expect(c.stats().dram.dirty).toBe(2);
    c.close();
    // Read as json, '123' came back as the number 123 and 'hello' refused
    // the open as ERR_PMEM_CORRUPT.
    c = new TieredCache<unknown>({ file, encoding: 'json' });
    expect([c.get('n'), c.get('s')]).toEqual(['123', 'hello']);
    c.close();
    c = new TieredCache<unknown>({ file, encoding: 'buffer', preload: 0 });
    expect([c.get('n'), c.get('s')]).toEqual(['123', 'hello']);
    c.close();
    fs.rmSync(file);
  });
});

describe('TieredCache json values, hostile', () => {
  test("what a value's getter or toJSON throws reaches the caller as it was thrown; JSON's own refusals are TypeErrors", () => {
    const region = new CrashSim(1 << 16);
    const c = new TieredCache<unknown>({ region, encoding: 'json' });
    const mine = new Error('aborted by the caller');
    let thrown: unknown;
    try {
      c.set('k', { get x() { throw mine; } });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBe(mine);
    try {
      c.set('k', { toJSON: () => { throw 7; } });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBe(7);
    // A toJSON that calls into another cache, closed: its ERR_PMEM_CLOSED.
    const other = new TieredCache<unknown>({ region: new CrashSim(1 << 16), encoding: 'json' });
    other.close();
    expectPmemError(() => c.set('k', { toJSON: () => other.get('x') }), 'ERR_PMEM_CLOSED');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expectThrowName(() => c.set('k', cycle), 'TypeError');
    expectThrowName(() => c.set('k', { n: 1n }), 'TypeError');
    expect(c.has('k')).toBe(false);
    expect(c.size).toBe(0);
    c.close();
  });
});

describe('TieredCache calls in odd order, hostile', () => {
  test('a region closed under the cache: a set is ERR_PMEM_CLOSED, and a close that cannot write DRAM\'s values says they are lost', () => {
    const file = tmpFile('region-closed.cache');
    let m = openMapping(file, { size: 1 << 16, create: true });
    const c = new TieredCache({ region: m });
    c.set('a', Buffer.from('1'));
    c.set('b', Buffer.from('2'));
    expect(c.stats().dram.dirty).toBe(2);
    m.close();
    // Taken into DRAM, it could never have been written.
    expectPmemError(() => c.set('c', Buffer.from('3')), 'ERR_PMEM_CLOSED');
    expect(c.has('c')).toBe(false);
    expectPmemError(() => c.close(), 'ERR_PMEM_CLOSED');
    expect(c.closed).toBe(true);
    c.close();
    m = openMapping(file);
    const again = new TieredCache({ region: m, writeMode: 'write-through' });
    expect(again.size).toBe(0);
    again.set('d', Buffer.from('4'));
    m.close();
    // Nothing held only in DRAM: nothing lost, and the close is quiet.
    again.close();
    m = openMapping(file);
    const third = new TieredCache({ region: m });
    expect(third.get('d')).toEqual(Buffer.from('4'));
    third.close();
    m.close();
    fs.rmSync(file);
  });
});

describe('TieredCache sizes, hostile', () => {
  test('a hot entry larger than dramBytes, which DRAM never admits, does not stop the preload of the entries after it', () => {
    const region = new CrashSim(64 + 256 * 16);
    let c = new TieredCache({ region, dramBytes: 100 });
    c.set('big', Buffer.alloc(150, 1));
    for (let i = 0; i < 5; i++) c.set(`s${i}`, Buffer.from('v'));
    for (let i = 0; i < 50; i++) expect(c.get('big')).toEqual(Buffer.alloc(150, 1));
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) c.get(`s${i}`);
    expect(c.stats().dram.entries).toBe(5);
    c.close();
    c = new TieredCache({ region, dramBytes: 100 });
    expect(c.stats().recovery.preloaded).toBe(5);
    expect(c.stats().dram).toMatchObject({ entries: 5, bytes: 5 * 3 });
    c.close();
  });
});

describe('TieredCache sizes, hostile (DRAM bound)', () => {
  test.each(['write-back', 'write-through'] as const)('%s: a key set again with a larger value keeps DRAM within dramBytes, and every value reads back', (writeMode) => {
    const region = new CrashSim(64 + 512 * 64);
    const c = new TieredCache({ region, slotBytes: 512, dramBytes: 100, writeMode });
    for (let i = 0; i < 8; i++) c.set(`k${i}`, Buffer.alloc(8, i));
    expect(c.stats().dram.entries).toBe(8);
    for (let i = 0; i < 8; i++) {
      c.set(`k${i}`, Buffer.alloc(i % 2 === 0 ? 300 : 20, i));
      expect(c.stats().dram.bytes).toBeLessThanOrEqual(100);
    }
    for (let i = 0; i < 8; i++) expect(c.get(`k${i}`)).toEqual(Buffer.alloc(i % 2 === 0 ? 300 : 20, i));
    expect(c.stats().dram.bytes).toBeLessThanOrEqual(100);
    expect(c.size).toBe(8);
    c.close();
    const again = new TieredCache({ region, slotBytes: 512 });
    for (let i = 0; i < 8; i++) expect(again.get(`k${i}`)).toEqual(Buffer.alloc(i % 2 === 0 ? 300 : 20, i));
    again.close();
  });
});

describe('TieredCache sizes, hostile (lru-cache\'s)', () => {
  test('calculatedSize counts keys and values as maxSize does: full slots make it equal to maxSize, never more', () => {
    const c = new TieredCache({ region: new CrashSim(64 + 256 * 4), writeMode: 'write-through' });
    // 2 bytes of key and 206 of value fill a 256-byte slot after its 48-byte header.
    for (let i = 0; i < 4; i++) c.set(`k${i}`, Buffer.alloc(206));
    expect(c.size).toBe(4);
    expect(c.maxSize).toBe(4 * 208);
    expect(c.calculatedSize).toBe(4 * 208);
    c.delete('k0');
    c.set('k9', Buffer.alloc(1));
    expect(c.calculatedSize).toBe(3 * 208 + 3);
    c.close();
  });
});

describe('TieredCache files, hostile', () => {
  test.each([NaN, Infinity, -Infinity])('a record whose checksum holds but whose expiry is %p, which no set writes, is ERR_PMEM_CORRUPT, the file left as it was', (expiry) => {
    const file = tmpFile('expiry.cache');
    const c = new TieredCache<string>({ file, pmemBytes: 1 << 16, encoding: 'utf8', writeMode: 'write-through' });
    c.set('k', 'value');
    c.close();
    const b = fs.readFileSync(file);
    const slot = 64;
    b.writeDoubleLE(expiry, slot + 40);
    resealSlot(b, slot);
    fs.writeFileSync(file, b);
    expectPmemError(() => new TieredCache({ file, encoding: 'utf8' }), 'ERR_PMEM_CORRUPT');
    expect(fs.readFileSync(file).equals(b)).toBe(true);
    fs.rmSync(file);
  });
});

describe('TieredCache files, hostile (UTF-8)', () => {
  /** A cache file holding 'key' → 'value' (`encoding`), then byte `at` of its record set to 0xff under a checksum that holds. */
  function forged(encoding: 'utf8' | 'json', at: number): string {
    const file = tmpFile(`utf8-${encoding}.cache`);
    const c = new TieredCache<string>({ file, pmemBytes: 1 << 16, encoding, writeMode: 'write-through' });
    c.set('key', 'value');
    c.close();
    const b = fs.readFileSync(file);
    const slot = 64;
    b[slot + 48 + at] = 0xff;
    resealSlot(b, slot);
    fs.writeFileSync(file, b);
    return file;
  }

  test('a published key that is not UTF-8 (no set writes one) is ERR_PMEM_CORRUPT, the file left as it was', () => {
    const file = forged('utf8', 1);
    const before = fs.readFileSync(file);
    expectPmemError(() => new TieredCache({ file, encoding: 'utf8' }), 'ERR_PMEM_CORRUPT');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    fs.rmSync(file);
  });

  test.each(['utf8', 'json'] as const)('a %s value that is not UTF-8 is ERR_PMEM_CORRUPT at open (preload) and on get and peek', (encoding) => {
    // 'key' is 3 bytes; the value's second byte ('a', or the json string's 'v').
    const file = forged(encoding, 3 + 1);
    expectPmemError(() => new TieredCache({ file, encoding }), 'ERR_PMEM_CORRUPT');
    const c = new TieredCache({ file, encoding, preload: 0 });
    expectPmemError(() => c.get('key'), 'ERR_PMEM_CORRUPT');
    expectPmemError(() => c.peek('key'), 'ERR_PMEM_CORRUPT');
    c.close();
    fs.rmSync(file);
  });
});

describe('TieredCache small tiers, hostile', () => {
  test('write-through: a set value is held when set returns, even when the admission that rejected it made a full PMem tier evict', () => {
    let sets = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const r = rng(seed);
      const region = new CrashSim(64 + 256 * (2 + Math.floor(r() * 6)));
      const options = { region, writeMode: 'write-through' as const, dramEntries: 1 + Math.floor(r() * 5), dramBytes: 20 + Math.floor(r() * 200), halfLife: 1 + r() * 20 };
      const c = new TieredCache(options);
      const last = new Map<string, string>();
      for (let step = 0; step < 300; step++) {
        const k = `k${Math.floor(r() * 10)}`;
        if (r() < 0.45) {
          const v = `${k}:${step}:${'z'.repeat(Math.floor(r() * 120))}`;
          c.set(k, Buffer.from(v));
          last.set(k, v);
          sets++;
          expect([seed, step, c.get(k)?.toString()]).toEqual([seed, step, v]);
        } else {
          // Gone (evicted) or the last value set, never an older one.
          const got = c.get(k)?.toString();
          if (got !== undefined) expect([seed, step, got]).toEqual([seed, step, last.get(k)]);
        }
      }
      c.close();
    }
    expect(sets).toBeGreaterThan(100 * 100);
  });

  test.each(['write-back', 'write-through'] as const)(
    '%s: an entry whose PMem slot is evicted to make room for it in DRAM is never a clean DRAM copy of nothing',
    (writeMode) => {
      let checked = 0;
      for (let seed = 1; seed <= 200; seed++) {
        const region = new CrashSim(64 + 128 * 2);
        const c = new TieredCache({ region, slotBytes: 128, dramEntries: 1, writeMode });
        const r = rng(seed);
        for (let step = 0; step < 50; step++) {
          const k = `k${Math.floor(r() * 4)}`;
          if (r() < 0.5) {
            c.set(k, Buffer.from(k));
            // A set is never evicted by its own admission.
            expect([seed, step, c.has(k)]).toEqual([seed, step, true]);
          } else {
            c.get(k);
          }
          // Every key listed is counted, and every key DRAM lists is one
          // PMem holds or one a flush writes.
          expect([seed, step, [...c.keys()].length]).toEqual([seed, step, c.size]);
          checked++;
        }
        // The next open holds what this one held, less what its close's
        // flush evicted to make room (2 slots for up to 3 entries).
        const held = [...c.keys()];
        c.close();
        const again = new TieredCache({ region, slotBytes: 128 });
        for (const key of again.keys()) expect([seed, held.includes(key), again.get(key)]).toEqual([seed, true, Buffer.from(key)]);
        again.close();
      }
      expect(checked).toBe(200 * 50);
    },
  );
});

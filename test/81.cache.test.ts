// TieredCache: the lru-cache-like API, encodings, TTL, write modes,
// admission (scan resistance), demotion and promotion, restart with
// preload, and every error path. Runs on real mappings in /dev/shm (msync,
// and CLWB+SFENCE with PMEM_IS_PMEM_FORCE=1).
import * as fs from 'node:fs';

import { TieredCache, TxLog, openMapping } from '../lib';
import { CrashSim } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const small = { pmemBytes: 1 << 20, dramEntries: 16 };

describe('TieredCache', () => {
  test('get, set, has, peek, delete, clear, size, iteration', () => {
    const file = tmpFile('api.cache');
    const c = new TieredCache<string>({ file, ...small, encoding: 'utf8' });
    expect(c.get('a')).toBeUndefined();
    expect(c.set('a', 'one')).toBe(c);
    expect(c.get('a')).toBe('one');
    expect(c.has('a')).toBe(true);
    expect(c.peek('a')).toBe('one');
    expect(c.size).toBe(1);
    for (let i = 0; i < 100; i++) c.set(`k${i}`, `v${i}`);
    expect(c.size).toBe(101);
    expect(c.stats().dram.entries).toBeLessThanOrEqual(16);
    for (let i = 0; i < 100; i++) expect(c.get(`k${i}`)).toBe(`v${i}`);
    expect(new Set(c.keys()).size).toBe(101);
    expect([...c].length).toBe(101);
    expect([...c.values()]).toContain('v7');
    const seen: string[] = [];
    c.forEach((v, k) => seen.push(`${k}=${v}`));
    expect(seen).toContain('k7=v7');
    expect(c.delete('a')).toBe(true);
    expect(c.delete('a')).toBe(false);
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(100);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get('k1')).toBeUndefined();
    c.close();
    c.close();
    expect(c.closed).toBe(true);
    fs.rmSync(file);
  });

  test.each(['write-back', 'write-through'] as const)('%s: every value survives close and reopen, and the reopen preloads the hottest', (writeMode) => {
    const file = tmpFile(`${writeMode}.cache`);
    let c = new TieredCache<Buffer>({ file, ...small, writeMode });
    for (let i = 0; i < 200; i++) c.set(`k${i}`, Buffer.from(`value ${i}`));
    // k190..k199 are hot: promoted from PMem, they demote the first keys set.
    for (let r = 0; r < 20; r++) for (let i = 190; i < 200; i++) c.get(`k${i}`);
    const s = c.stats();
    expect(s.demotions.dirty + s.demotions.clean).toBeGreaterThan(0);
    if (writeMode === 'write-through') expect(s.dram.dirty).toBe(0);
    c.close();
    c = new TieredCache<Buffer>({ file, ...small, writeMode });
    const r = c.stats();
    expect(r.recovery.entries).toBe(200);
    expect(r.recovery.preloaded).toBe(16);
    for (let i = 190; i < 200; i++) c.get(`k${i}`);
    expect(c.stats().hits.dram).toBe(10);
    for (let i = 0; i < 200; i++) expect(c.get(`k${i}`)?.toString()).toBe(`value ${i}`);
    c.close();
    fs.rmSync(file);
  });

  test('write-back: a value in DRAM only is durable after flush()', () => {
    const region = new CrashSim(64 * 1024);
    const c = new TieredCache<string>({ region, dramEntries: 8, encoding: 'utf8' });
    c.set('x', 'dirty');
    expect(c.stats().dram.dirty).toBe(1);
    // Nothing of it on PMem yet: a crash now keeps the persisted image only.
    expect(new TieredCache({ region: fromImage(region), encoding: 'utf8' }).peek('x')).toBeUndefined();
    c.flush();
    expect(c.stats().dram.dirty).toBe(0);
    expect(new TieredCache({ region: fromImage(region), encoding: 'utf8' }).peek('x')).toBe('dirty');
  });

  test('write-through: durable on return', () => {
    const region = new CrashSim(64 * 1024);
    const c = new TieredCache<string>({ region, dramEntries: 8, encoding: 'utf8', writeMode: 'write-through' });
    c.set('x', 'now');
    expect(new TieredCache({ region: fromImage(region), encoding: 'utf8' }).peek('x')).toBe('now');
  });

  test('encodings: buffer copies its input, utf8, json', () => {
    const region = new CrashSim(64 * 1024);
    const b = new TieredCache<Buffer>({ region, dramEntries: 2 });
    const input = Buffer.from('abc');
    b.set('k', input);
    input[0] = 0x7a;
    expect(b.get('k')?.toString()).toBe('abc');
    expectThrowName(() => b.set('k', 'not bytes' as unknown as Buffer), 'TypeError');
    b.close();
    const j = new TieredCache<{ n: number[] }>({ region: new CrashSim(64 * 1024), dramEntries: 1, encoding: 'json' });
    j.set('a', { n: [1, 2] });
    j.set('b', { n: [3] });
    j.set('c', { n: [4] });
    j.flush();
    expect(j.get('a')).toEqual({ n: [1, 2] });
    expect(j.peek('b')).toEqual({ n: [3] });
    expectThrowName(() => j.set('f', (() => 1) as unknown as { n: number[] }), 'TypeError');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectThrowName(() => j.set('c', cyclic as unknown as { n: number[] }), 'TypeError');
    const u = new TieredCache<string>({ region: new CrashSim(64 * 1024), encoding: 'utf8' });
    expectThrowName(() => u.set('k', 5 as unknown as string), 'TypeError');
  });

  test('TTL: expired entries are gone from both tiers, also after a reopen', () => {
    const file = tmpFile('ttl.cache');
    const now = jest.spyOn(Date, 'now');
    try {
      now.mockReturnValue(1_000_000);
      const c = new TieredCache<string>({ file, ...small, encoding: 'utf8', ttl: 1000 });
      c.set('short', 'a');
      c.set('long', 'b', { ttl: 5000 });
      c.set('forever', 'c', { ttl: 0 });
      for (let i = 0; i < 40; i++) c.set(`fill${i}`, 'x', { ttl: 0 });
      now.mockReturnValue(1_000_999);
      expect(c.get('short')).toBe('a');
      now.mockReturnValue(1_001_000);
      expect(c.has('short')).toBe(false);
      expect(c.get('short')).toBeUndefined();
      expect(c.get('long')).toBe('b');
      c.close();
      now.mockReturnValue(1_006_000);
      const d = new TieredCache<string>({ file, ...small, encoding: 'utf8' });
      expect(d.get('long')).toBeUndefined();
      expect(d.get('forever')).toBe('c');
      expect(d.stats().recovery.dropped).toBeGreaterThanOrEqual(1);
      d.close();
    } finally {
      now.mockRestore();
    }
    fs.rmSync(file);
  });

  test('a crash between an update and its retirement, then expiry: the older copy does not come back', () => {
    const now = jest.spyOn(Date, 'now');
    try {
      now.mockReturnValue(1_000_000);
      const region = new CrashSim(64 * 1024);
      const c = new TieredCache<string>({ region, encoding: 'utf8', writeMode: 'write-through' });
      c.set('k', 'old');
      c.set('k', 'new', { ttl: 1000 });
      // The older copy's zero commit word is flushed, not yet fenced: the
      // persisted image holds both copies published.
      const image = fromImage(region);
      now.mockReturnValue(1_002_000);
      const d = new TieredCache<string>({ region: image, encoding: 'utf8' });
      expect(d.get('k')).toBeUndefined();
      expect(d.stats().recovery.dropped).toBe(2);
    } finally {
      now.mockRestore();
    }
  });

  test('an entry larger than a slot is not stored, and its older value is deleted', () => {
    const c = new TieredCache<string>({ region: new CrashSim(64 * 1024), encoding: 'utf8', slotBytes: 128 });
    c.set('k', 'small');
    c.set('k', 'x'.repeat(100));
    expect(c.get('k')).toBeUndefined();
    expect(c.stats().tooLarge).toBe(1);
  });

  test('admission: a scan of keys seen once, amid hot traffic, does not flush the hot set', () => {
    const c = new TieredCache<string>({ region: new CrashSim(2 << 20), dramEntries: 100, encoding: 'utf8' });
    const ask = (k: string): void => {
      if (c.get(k) === undefined) c.set(k, 'v');
    };
    for (let r = 0; r < 10; r++) for (let i = 0; i < 90; i++) ask(`hot${i}`);
    // A scan of 20 times DRAM's size, one hot request after each scanned key.
    const before = c.stats().hits.dram;
    for (let i = 0; i < 2000; i++) {
      ask(`scan${i}`);
      ask(`hot${i % 90}`);
    }
    // Every hot request but a few hit DRAM (an LRU of 100 entries would hit none: 2 new keys per hot reuse distance of 180).
    expect(c.stats().hits.dram - before).toBeGreaterThanOrEqual(1900);
    expect(c.stats().rejected).toBeGreaterThan(500);
  });

  test('promotion: a warm key asked for often comes back into DRAM', () => {
    const c = new TieredCache<string>({ region: new CrashSim(2 << 20), dramEntries: 10, encoding: 'utf8' });
    for (let i = 0; i < 50; i++) c.set(`k${i}`, 'v');
    c.flush();
    for (let r = 0; r < 30; r++) c.get('k49');
    expect(c.stats().promotions).toBeGreaterThan(0);
    const hits = c.stats().hits.dram;
    c.get('k49');
    expect(c.stats().hits.dram).toBe(hits + 1);
  });

  test('a full PMem tier evicts its coldest entries', () => {
    const c = new TieredCache<string>({ region: new CrashSim(64 + 20 * 256), dramEntries: 4, encoding: 'utf8' });
    for (let i = 0; i < 100; i++) c.set(`k${i}`, 'v');
    c.flush();
    expect(c.max).toBe(20);
    // 20 on PMem, and DRAM entries whose PMem copy the flush evicted.
    expect(c.size).toBeLessThanOrEqual(20 + 4);
    expect(c.stats().evictions).toBeGreaterThan(0);
  });

  test('dramBytes bounds the DRAM tier by bytes', () => {
    const c = new TieredCache<string>({ region: new CrashSim(1 << 20), dramBytes: 100, encoding: 'utf8' });
    for (let i = 0; i < 50; i++) c.set(`k${i}`, 'vvvvvvvv');
    expect(c.stats().dram.bytes).toBeLessThanOrEqual(100);
    expect(c.size).toBe(50);
  });

  test('bad arguments: TypeError and RangeError', () => {
    const file = tmpFile('args.cache');
    const T = (o: unknown) => expectThrowName(() => new TieredCache(o as never), 'TypeError');
    const R = (o: unknown) => expectThrowName(() => new TieredCache(o as never), 'RangeError');
    T(null);
    T({});
    T({ file, region: new CrashSim(4096) });
    T({ file: '' });
    T({ file, bogus: 1 });
    T({ region: {} });
    T({ region: new CrashSim(4096), pmemBytes: 4096 });
    T({ file, halfLife: '1' });
    T({ file, writeMode: 1 });
    T({ file, encoding: 1 });
    T({ file, ttl: '1' });
    R({ file, dramEntries: 0 });
    R({ file, dramEntries: -1 });
    R({ file, dramBytes: 0 });
    R({ file, slotBytes: 100 });
    R({ file, slotBytes: 64 });
    R({ file, halfLife: 0 });
    R({ file, writeMode: 'later' });
    R({ file, encoding: 'latin1' });
    R({ file, ttl: -1 });
    R({ file, ttl: Infinity });
    R({ file, preload: -1 });
    R({ file, pmemBytes: 0 });
    R({ file, pmemBytes: 2 ** 32 + 64 });
    R({ region: new CrashSim(100) });
    expect(fs.existsSync(file)).toBe(false);
    const c = new TieredCache<string>({ region: new CrashSim(4096), encoding: 'utf8' });
    expectThrowName(() => c.get(1 as unknown as string), 'TypeError');
    expectThrowName(() => c.set(1 as unknown as string, 'v'), 'TypeError');
    expectThrowName(() => c.set('k', 'v', { ttl: -5 }), 'RangeError');
    expectThrowName(() => c.set('k', 'v', 5 as never), 'TypeError');
    expectThrowName(() => c.delete(1 as unknown as string), 'TypeError');
    expectThrowName(() => c.has(1 as unknown as string), 'TypeError');
    expectThrowName(() => c.forEach(1 as never), 'TypeError');
  });

  // null is a value, not an option left out: it was taken as the default
  // by pmemBytes, slotBytes, writeMode, encoding and ttl.
  test('options or an option given as null is a TypeError naming it; an option left out takes its default', () => {
    const file = tmpFile('opt-null.cache');
    expect(() => new TieredCache(null as never)).toThrow(new TypeError('options must be an object'));
    const fields: [string, object][] = [
      ['file', { file: null }],
      ['region', { region: null }],
      ['region', { file, region: null }],
      ...['pmemBytes', 'dramEntries', 'dramBytes', 'slotBytes', 'halfLife', 'writeMode', 'encoding', 'ttl', 'preload']
        .map((k): [string, object] => [k, { file, [k]: null }]),
    ];
    for (const [name, options] of fields) {
      let err: unknown;
      try {
        new TieredCache(options as never).close();
      } catch (e) {
        err = e;
      }
      expect([name, err]).toEqual([name, expect.any(TypeError)]);
      expect((err as Error).message.startsWith(`${name} `)).toBe(true);
    }
    expect(fs.existsSync(file)).toBe(false);
    const c0 = new TieredCache({ file, ttl: 1 });
    expect(() => c0.set('k', Buffer.from('v'), null as never)).toThrow(new TypeError('options must be an object'));
    expect(() => c0.set('k', Buffer.from('v'), { ttl: null as never })).toThrow(new TypeError('ttl must be a number, got null'));
    // A misspelt ttl would leave the entry without one, unseen.
    expect(() => c0.set('k', Buffer.from('v'), { tll: 1 } as never)).toThrow(new TypeError("unknown option 'tll'"));
    expect(c0.has('k')).toBe(false);
    c0.close();
    fs.rmSync(file);

    const given: Record<string, undefined> = {};
    for (const k of ['pmemBytes', 'dramEntries', 'dramBytes', 'slotBytes', 'halfLife', 'writeMode', 'encoding', 'ttl', 'preload']) given[k] = undefined;
    const c = new TieredCache({ file, ...given });
    expect([c.writeMode, c.encoding, c.ttl]).toEqual(['write-back', 'buffer', 0]);
    const s = c.stats();
    expect([s.pmem.slotBytes, s.dram.maxEntries, s.dram.maxBytes]).toEqual([256, 10_000, Infinity]);
    c.close();
    expect(fs.statSync(file).size).toBe(64 * 2 ** 20);
    fs.rmSync(file);
  });

  test('a closed cache throws ERR_PMEM_CLOSED', () => {
    const c = new TieredCache<string>({ file: tmpFile('closed.cache'), ...small, encoding: 'utf8' });
    c.set('a', 'b');
    c.close();
    expectPmemError(() => c.get('a'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.set('a', 'b'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.has('a'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.delete('a'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.flush(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.clear(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => [...c.keys()], 'ERR_PMEM_CLOSED');
    // The iterators throw when asked for, not at their first next().
    expectPmemError(() => c.keys(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.values(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c.entries(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => c[Symbol.iterator](), 'ERR_PMEM_CLOSED');
    for (const p of ['size', 'max', 'maxSize', 'calculatedSize'] as const) expectPmemError(() => c[p], 'ERR_PMEM_CLOSED');
    expect(c.closed).toBe(true);
    expect(c.stats().size).toBe(0);
  });

  test('a file that is not a cache is refused and left byte-identical', () => {
    const file = tmpFile('foreign.bin');
    const bytes = Buffer.from('not a cache at all, but someone else\'s data'.repeat(10));
    fs.writeFileSync(file, bytes);
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_NOT_A_STORE');
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    const region = new CrashSim(4096);
    region.bytes.write('something', 0);
    expectPmemError(() => new TieredCache({ region }), 'ERR_PMEM_NOT_A_STORE');
    fs.rmSync(file);
  });

  test('a region whose first word is zero is formatted only when all of it is zero: what it holds is refused and left as it is', () => {
    // A TxLog's first word (its retire word) is zero until its first checkpoint.
    const region = new CrashSim(64 * 1024);
    const log = TxLog.format(region, { offset: 0, size: 8192 });
    log.run((tx) => tx.write(16384, Buffer.from('balance=90')));
    expect(region.bytes.readBigUInt64LE(0)).toBe(0n);
    const held = Buffer.from(region.bytes);
    expectPmemError(() => new TieredCache({ region }), 'ERR_PMEM_NOT_A_STORE');
    expect(() => new TieredCache({ region })).toThrow('a region is formatted only when every byte of it is zero');
    expect(region.bytes.equals(held)).toBe(true);
    expect(() => TxLog.open(region, { offset: 0, size: 8192 })).not.toThrow();
    expect(region.bytes.toString('latin1', 16384, 16394)).toBe('balance=90');
    // One byte anywhere, the region's last too.
    for (const at of [28, 63, 64, 40000, 64 * 1024 - 1]) {
      const one = new CrashSim(64 * 1024);
      one.bytes[at] = 1;
      expectPmemError(() => new TieredCache({ region: one }), 'ERR_PMEM_NOT_A_STORE');
      expect(one.bytes.filter((x) => x !== 0)).toEqual(Buffer.from([1]));
    }
  });

  test('a region whose format a crash cut short (header fields written, magic word not) is formatted again', () => {
    const region = new CrashSim(64 * 1024);
    // What a format writes before its magic word: slot size, salt, slot count, checksum (bytes 8..27).
    region.bytes.fill(0xa5, 8, 28);
    const c = new TieredCache<string>({ region, encoding: 'utf8', writeMode: 'write-through' });
    c.set('k', 'v');
    c.close();
    expect(new TieredCache<string>({ region, encoding: 'utf8' }).peek('k')).toBe('v');
  });

  test('a damaged header is ERR_PMEM_CORRUPT; another slot size ERR_PMEM_INVALID; a damaged record ERR_PMEM_CORRUPT', () => {
    const file = tmpFile('damaged.cache');
    const c = new TieredCache<string>({ file, ...small, encoding: 'utf8', writeMode: 'write-through' });
    c.set('k', 'value');
    c.close();
    expectPmemError(() => new TieredCache({ file, ...small, slotBytes: 512 }), 'ERR_PMEM_INVALID');
    const m = openMapping(file);
    const at = 64 + m.bytes.indexOf('value', 64) - 64;
    m.bytes[at] ^= 1;
    m.close();
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_CORRUPT');
    const h = openMapping(file);
    h.bytes[9] ^= 1;
    h.close();
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_CORRUPT');
    fs.rmSync(file);
  });
});

/** A region holding what `sim` has persisted (what a crash with nothing written back keeps). */
function fromImage(sim: CrashSim): CrashSim {
  const r = new CrashSim(sim.length);
  sim.persisted().copy(r.bytes);
  return r;
}

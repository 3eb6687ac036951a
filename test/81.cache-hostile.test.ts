// TieredCache against a hostile caller: keys and values that have no
// faithful UTF-8 form, options that answer differently each time they are
// read, bounds that would allocate without limit, values changed after
// they were set, and files whose records pass their checksum but cannot be
// what the cache wrote.
import * as fs from 'node:fs';

import { TieredCache, crc32c, openMapping } from '../lib';
import { cacheHooks } from '../lib/cache/hooks';
import { CrashSim } from '../lib/testing';
import { resealSlot } from './fixtures/cache/reseal';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

describe('TieredCache, hostile input', () => {
  test('a key or utf8 value with a lone surrogate is refused: its UTF-8 bytes would read back as U+FFFD, another key', () => {
    const file = tmpFile('surrogate.cache');
    let c = new TieredCache<string>({ file, pmemBytes: 1 << 16, encoding: 'utf8', writeMode: 'write-through' });
    for (const key of ['\uD800', 'a\uDBFFb', '\uDC00', 'x\uDFFF']) {
      expectThrowName(() => c.set(key, 'v'), 'TypeError');
      expectThrowName(() => c.get(key), 'TypeError');
      expectThrowName(() => c.has(key), 'TypeError');
      expectThrowName(() => c.delete(key), 'TypeError');
    }
    expectThrowName(() => c.set('k', 'a\uD800'), 'TypeError');
    // A well-formed pair is one character, and comes back as it went in.
    c.set('\uD83D\uDE00', 'v\uD83D\uDE00');
    c.set('\uFFFD', 'replacement');
    c.close();
    c = new TieredCache<string>({ file, encoding: 'utf8' });
    expect(c.get('\uD83D\uDE00')).toBe('v\uD83D\uDE00');
    expect(c.get('\uFFFD')).toBe('replacement');
    expect(c.size).toBe(2);
    c.close();
  });
});

describe('TieredCache options, hostile', () => {
  test('each option is read once: a getter or Proxy that answers differently the second time cannot lift both DRAM bounds', () => {
    let reads = 0;
    const options = {
      region: new CrashSim(1 << 16),
      // undefined to the first read, a byte bound to any later one.
      get dramBytes() {
        return reads++ === 0 ? undefined : 5;
      },
    };
    const c = new TieredCache(options);
    expect(reads).toBe(1);
    expect(c.stats().dram.maxEntries).toBe(10_000);
    const gets = new Map<PropertyKey, number>();
    const proxy = new Proxy({ region: new CrashSim(1 << 16), dramEntries: 4, halfLife: 100, file: undefined }, {
      get(target, key, receiver) {
        gets.set(key, (gets.get(key) ?? 0) + 1);
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    new TieredCache(proxy as never);
    for (const [key, n] of gets) expect([key, n]).toEqual([key, 1]);
  });

  test('a region without a length it can hold is refused before anything is written', () => {
    const sim = new CrashSim(1 << 16);
    const region = { bytes: sim.bytes, flush: sim.flush.bind(sim), drain: sim.drain.bind(sim), persist: sim.persist.bind(sim) };
    expectThrowName(() => new TieredCache({ region: region as never }), 'TypeError');
    expectThrowName(() => new TieredCache({ region: { ...region, length: 1 << 17 } as never }), 'TypeError');
    expect(sim.bytes.every((b) => b === 0)).toBe(true);
  });

  test('a read-only mapping is refused at once (ERR_PMEM_READONLY), read and written not at all', () => {
    const file = tmpFile('readonly-region.cache');
    const writable = openMapping(file, { size: 1 << 20, create: true });
    const c = new TieredCache({ region: writable });
    c.set('k', Buffer.from('v'));
    c.close();
    writable.close();
    const before = fs.readFileSync(file);
    const ro = openMapping(file, { readOnly: true });
    try {
      expectPmemError(() => new TieredCache({ region: ro }), 'ERR_PMEM_READONLY');
    } finally {
      ro.close();
    }
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    const again = openMapping(file);
    const d = new TieredCache({ region: again });
    expect(d.get('k')?.toString()).toBe('v');
    d.close();
    again.close();
  });

  // Each tier keeps its keys in a Map, which holds 2^24: a bound past it
  // was taken, and the 2^24th set threw V8's "Map maximum size exceeded",
  // with the entry counted, and so did every set after it.
  test('dramEntries past 2^24 - 1 is a RangeError', () => {
    expect(() => new TieredCache({ region: new CrashSim(1 << 16), dramEntries: 2 ** 24 })).toThrow(
      new RangeError(`dramEntries must be at most ${2 ** 24 - 1} (2^24 - 1: a JavaScript Map's limit), got ${2 ** 24}`));
  });

  test('a new file of more slots than 2^24 - 1 is a RangeError, and no file is made', () => {
    const file = tmpFile('too-many-slots.cache');
    for (const [pmemBytes, slotBytes] of [[2 ** 31 + 64, 128], [2 ** 32, 192]]) {
      const slots = Math.floor((pmemBytes - 64) / slotBytes);
      expect(() => new TieredCache({ file, pmemBytes, slotBytes })).toThrow(new RangeError(
        `pmemBytes ${pmemBytes} holds ${slots} slots of ${slotBytes} bytes, and a cache holds at most ${2 ** 24 - 1} entries ` +
        '(2^24 - 1: a JavaScript Map\'s limit); use a larger slotBytes or fewer bytes'));
      expect(fs.existsSync(file)).toBe(false);
    }
  });

  test('a region of more slots than 2^24 - 1 is a RangeError before its format writes', () => {
    const file = tmpFile('too-many-slots.region');
    const m = openMapping(file, { create: true, size: 2 ** 31 + 128 }); // sparse: zeros, read, not written
    try {
      expect(() => new TieredCache({ region: m, slotBytes: 128 })).toThrow(new RangeError(
        `a ${2 ** 31 + 128}-byte region holds ${2 ** 24} slots of 128 bytes, and a cache holds at most ${2 ** 24 - 1} entries ` +
        '(2^24 - 1: a JavaScript Map\'s limit); use a larger slotBytes or fewer bytes'));
      expect(m.bytes.subarray(0, 1 << 16).equals(Buffer.alloc(1 << 16))).toBe(true);
    } finally {
      m.close();
      fs.rmSync(file, { force: true });
    }
  });

  test('a header counting more than 2^24 - 1 slots is ERR_PMEM_INVALID: a tier that filled them would overflow its key Map', () => {
    const file = tmpFile('too-many-slots.header');
    const m = openMapping(file, { create: true, size: 2 ** 31 + 128 }); // sparse, as above
    try {
      // The header a format would write for 2^24 slots of 128 bytes, with a checksum that holds.
      const b = m.bytes;
      b.writeUInt32LE(128, 8);
      b.writeUInt32LE(12345, 12);
      b.writeUInt32LE(2 ** 24, 16);
      b.writeUInt32LE(crc32c(b, 8, 16, 0), 24);
      b.writeUInt32LE(0x31544350, 0); // 'PCT1'
      b.writeUInt32LE(1, 4);
      const head = Buffer.from(b.subarray(0, 1 << 16));
      expectPmemError(() => new TieredCache({ region: m, slotBytes: 128 }), 'ERR_PMEM_INVALID');
      expect(() => new TieredCache({ region: m, slotBytes: 128 })).toThrow(
        `the cache counts ${2 ** 24} slots of 128 bytes, and this package holds at most ${2 ** 24 - 1} entries`);
      expect(m.bytes.subarray(0, 1 << 16).equals(head)).toBe(true);
    } finally {
      m.close();
      fs.rmSync(file, { force: true });
    }
  });

  test('a huge dramEntries bound allocates as entries come, not up front', () => {
    const before = process.memoryUsage().arrayBuffers;
    const c = new TieredCache({ region: new CrashSim(1 << 16), dramEntries: 2 ** 24 - 1 });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    for (let i = 0; i < 5000; i++) c.set(`k${i}`, Buffer.from('v'));
    expect(c.stats().dram.entries).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(c.get(`k${i}`)).toEqual(Buffer.from('v'));
  });
});

describe('TieredCache values, hostile', () => {
  test('a PMem eviction keeps the bytes set encoded: a value changed by its caller afterwards is neither encoded again nor run', () => {
    const region = new CrashSim(64 + 256 * 4);
    const c = new TieredCache<unknown>({ region, encoding: 'json', writeMode: 'write-through', dramEntries: 100 });
    let calls = 0;
    const value: Record<string, unknown> = {
      a: 1,
      toJSON() {
        calls++;
        // Runs user code: it must not run inside the PMem tier's put.
        if (calls > 1) c.set('nested', 1);
        return { a: 1 };
      },
    };
    c.set('k1', value);
    expect(calls).toBe(1);
    // A cycle JSON cannot encode.
    value.self = value;
    const evicted: string[] = [];
    cacheHooks.evicted = (key) => evicted.push(key);
    try {
      for (let i = 0; i < 100 && !evicted.includes('k1'); i++) c.set(`x${i}`, i);
    } finally {
      cacheHooks.evicted = undefined;
    }
    expect(evicted).toContain('k1');
    expect(calls).toBe(1);
    expect(c.has('k1')).toBe(true);
    // Room on PMem for k1's DRAM copy, which close() writes back.
    for (const key of c.keys()) if (key !== 'k1') c.delete(key);
    c.close();
    const again = new TieredCache<unknown>({ region, encoding: 'json' });
    expect(again.get('k1')).toEqual({ a: 1 });
    again.close();
  });
});

describe('TieredCache files, hostile', () => {
  /** A cache file holding 'k' → `value` (utf8), its record then given `tag` and `bytes` under a checksum that holds. */
  function forged(name: string, tag: number, bytes?: Buffer): string {
    const file = tmpFile(name);
    const c = new TieredCache<string>({ file, pmemBytes: 1 << 16, encoding: 'utf8', writeMode: 'write-through' });
    c.set('k', 'value');
    c.close();
    const b = fs.readFileSync(file);
    const slot = 64;
    if (bytes !== undefined) {
      b.writeUInt32LE(bytes.length, slot + 24);
      bytes.copy(b, slot + 48 + 1);
    }
    b.writeUInt32LE(tag, slot + 28);
    resealSlot(b, slot);
    fs.writeFileSync(file, b);
    return file;
  }

  test('a record whose checksum holds but whose encoding tag is unknown is ERR_PMEM_CORRUPT, and the file is left as it was', () => {
    const file = forged('tag.cache', 7);
    const before = fs.readFileSync(file);
    expectPmemError(() => new TieredCache({ file }), 'ERR_PMEM_CORRUPT');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('a json record that does not parse is ERR_PMEM_CORRUPT, and a failed open releases the file', () => {
    const file = forged('json.cache', 2, Buffer.from('{no'));
    expectPmemError(() => new TieredCache({ file, encoding: 'json' }), 'ERR_PMEM_CORRUPT');
    // Not ERR_PMEM_LOCKED: the failed open let the file go.
    expectPmemError(() => new TieredCache({ file, encoding: 'json' }), 'ERR_PMEM_CORRUPT');
    const c = new TieredCache({ file, encoding: 'json', preload: 0 });
    expectPmemError(() => c.get('k'), 'ERR_PMEM_CORRUPT');
    expectPmemError(() => c.peek('k'), 'ERR_PMEM_CORRUPT');
    c.close();
  });

  test('a header whose checksum holds but that counts no slot is ERR_PMEM_CORRUPT', () => {
    const file = tmpFile('noslot.cache');
    new TieredCache({ file, pmemBytes: 1 << 16 }).close();
    const b = fs.readFileSync(file);
    b.writeUInt32LE(0, 16);
    b.writeUInt32LE(crc32c(b, 8, 16, 0), 24);
    fs.writeFileSync(file, b);
    expectPmemError(() => new TieredCache({ file }), 'ERR_PMEM_CORRUPT');
    expectPmemError(() => new TieredCache({ file }), 'ERR_PMEM_CORRUPT');
  });
});

describe('TieredCache re-entrancy', () => {
  test("a value's toJSON that closes the cache: set throws ERR_PMEM_CLOSED and writes nothing to the region", () => {
    const region = new CrashSim(1 << 16);
    const c = new TieredCache<unknown>({ region, encoding: 'json', writeMode: 'write-through' });
    const before = Buffer.from(region.bytes);
    expectPmemError(() => c.set('k', { toJSON: () => (c.close(), 1) }), 'ERR_PMEM_CLOSED');
    // close() wrote its hotness hints and nothing else: no slot is published.
    expect(region.bytes.subarray(64).readBigUInt64LE(0)).toBe(before.subarray(64).readBigUInt64LE(0));
  });
});

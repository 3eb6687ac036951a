// KVStore on files: open options, the writer lock, growth, limits, damage.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore, openMapping, sealRecord } from '../lib';
import { CrashSim } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const dist = path.join(__dirname, '..', 'dist');

test('create, reopen, and the open options', () => {
  const file = tmpFile('kv-open');
  expectPmemError(() => KVStore.open(file), 'ERR_PMEM_NOT_FOUND');
  const s = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  s.put('a', 'b');
  s.close();
  expect(fs.statSync(file).size).toBe(1 << 20);
  // create on an existing store opens it; size does not shrink it.
  const again = KVStore.open(file, { create: true, size: 1 << 19 });
  expect(again.getString('a')).toBe('b');
  expect(again.stats().segmentSize).toBe(64 * 1024);
  again.close();
});

test('bad options', () => {
  const file = tmpFile('kv-opts');
  expectThrowName(() => KVStore.open('' as never), 'TypeError');
  expectThrowName(() => KVStore.open(1 as never), 'TypeError');
  expectThrowName(() => KVStore.open(file, null as never), 'TypeError');
  expectThrowName(() => KVStore.open(file, { bogus: 1 } as never), 'TypeError');
  expectThrowName(() => KVStore.open(file, { create: 'yes' } as never), 'TypeError');
  expectThrowName(() => KVStore.open(file, { create: true, readOnly: true }), 'TypeError');
  expectThrowName(() => KVStore.open(file, { create: true, size: -1 }), 'RangeError');
  expectThrowName(() => KVStore.open(file, { create: true, size: 2 ** 33 }), 'RangeError');
  expectThrowName(() => KVStore.open(file, { create: true, size: 1000 }), 'RangeError');
  expectThrowName(() => KVStore.open(file, { create: true, segmentSize: 3000 }), 'RangeError');
  expectThrowName(() => KVStore.open(file, { create: true, segmentSize: 512 }), 'RangeError');
  expectThrowName(() => KVStore.open(file, { create: true, maxSize: 2 ** 33 }), 'RangeError');
  expectThrowName(() => KVStore.openRegion({} as never, { bogus: true } as never), 'TypeError');
  expect(() => KVStore.open(file, { create: true, size: 64 << 20, maxSize: 16 << 20 })).toThrow(
    new RangeError(`maxSize (${16 << 20}) is below size (${64 << 20}): a store never grows past maxSize`));
  expect(fs.existsSync(file)).toBe(false);
});

test('a new store is never larger than its maxSize: without a size, it takes maxSize when that is below the default', () => {
  const file = tmpFile('kv-max');
  KVStore.open(file, { create: true, maxSize: 32 << 20 }).close();
  expect(fs.statSync(file).size).toBe(32 << 20);
  const other = tmpFile('kv-max-default');
  KVStore.open(other, { create: true, maxSize: 1 << 30 }).close();
  expect(fs.statSync(other).size).toBe(64 << 20);
  // An existing store keeps its size: a maxSize below it only means it does not grow.
  const s = KVStore.open(other, { maxSize: 16 << 20 });
  s.put('k', 'v');
  s.close();
  expect(fs.statSync(other).size).toBe(64 << 20);
});

// null is a value, not an option left out: a bound of null (gt, gte, lt,
// lte) was taken as no bound, and unordered() took an encoding of null as
// 'buffer'.
test('range, keys, entries and unordered: options or an option given as null is a TypeError naming it; one left out takes its default', () => {
  const store = KVStore.open(tmpFile('kv-opt-null'), { create: true, size: 1 << 20, segmentSize: 4096 });
  try {
    for (const k of ['a', 'b', 'c']) store.put(k, k.toUpperCase());
    const iterators: [string, (o: unknown) => Iterable<unknown>][] = [
      ['range', (o) => store.range(o as never)],
      ['keys', (o) => store.keys(o as never)],
      ['entries', (o) => store.entries(o as never)],
    ];
    for (const [method, of] of iterators) {
      expect(() => [...of(null)]).toThrow(new TypeError('options must be an object'));
      for (const name of ['gt', 'gte', 'lt', 'lte', 'prefix', 'reverse', 'limit', 'encoding']) {
        let err: unknown;
        try {
          [...of({ [name]: null })];
        } catch (e) {
          err = e;
        }
        expect([method, name, err]).toEqual([method, name, expect.any(TypeError)]);
        expect((err as Error).message.startsWith(`${name} `)).toBe(true);
      }
      const left = { gt: undefined, gte: undefined, lt: undefined, lte: undefined, prefix: undefined, reverse: undefined, limit: undefined, encoding: undefined };
      expect([...of(left)]).toEqual([...of({})]);
      expect([...of(left)]).toHaveLength(3);
    }
    expect([...store.range({ gt: undefined, lt: 'c' })].map(([k]) => k.toString())).toEqual(['a', 'b']);
    // Each option is read once: a bound that answers 'a', then nothing, is the bound 'a'.
    let reads = 0;
    const shifty = { get gt(): string | undefined { return reads++ === 0 ? 'a' : undefined; } };
    expect([...store.range(shifty)].map(([k]) => k.toString())).toEqual(['b', 'c']);
    expect(reads).toBe(1);
    expect(() => [...store.unordered(undefined, null as never)]).toThrow(new TypeError('options must be an object'));
    expect(() => [...store.unordered(undefined, { encoding: null as never })]).toThrow(new TypeError("options.encoding must be 'buffer' or 'latin1', got null"));
    expect([...store.unordered(undefined, { encoding: undefined })].map(([k, v]) => [Buffer.isBuffer(k), v.toString()]).sort())
      .toEqual([[true, 'A'], [true, 'B'], [true, 'C']]);
  } finally {
    store.close();
  }
});

test('range, keys, entries and unordered check their options, and a closed store, where they are called', () => {
  const store = KVStore.open(tmpFile('kv-iter-eager'), { create: true, size: 1 << 20, segmentSize: 4096 });
  store.put('a', 'A');
  // No next() is called: the call itself throws.
  expect(() => store.range({ limit: -1 })).toThrow(RangeError);
  expect(() => store.keys({ nosuch: 1 } as never)).toThrow(new TypeError("unknown option 'nosuch'"));
  expect(() => store.entries({ encoding: 'latin1' as never })).toThrow(TypeError);
  expect(() => store.unordered(5 as never)).toThrow(TypeError);
  // The options are read at the call: changing them before the first next() changes nothing.
  const options = { prefix: 'a' };
  const it = store.range(options);
  options.prefix = 'z';
  expect([...it].map(([k]) => k.toString())).toEqual(['a']);
  store.close();
  for (const call of [() => store.range(), () => store.keys(), () => store.entries(), () => store.unordered()]) {
    expectPmemError(call, 'ERR_PMEM_CLOSED');
  }
});

test('a second writer is refused with ERR_PMEM_LOCKED, in this process and in another', () => {
  const file = tmpFile('kv-lock');
  const s = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  s.put('k', 'v');
  expectPmemError(() => KVStore.open(file), 'ERR_PMEM_LOCKED');
  // A reader opens beside the writer (test/78 covers readers in full).
  const reader = KVStore.open(file, { readOnly: true });
  expect(reader.getString('k')).toBe('v');
  reader.close();
  const child = spawnSync(process.execPath, ['-e', `
    const { KVStore } = require(${JSON.stringify(dist)});
    try { KVStore.open(${JSON.stringify(file)}); console.log('opened'); }
    catch (e) { console.log(e.code); }`], { encoding: 'utf8' });
  expect(child.stdout.trim()).toBe('ERR_PMEM_LOCKED');
  s.close();
  // Released on close.
  const t = KVStore.open(file);
  expect(t.getString('k')).toBe('v');
  t.close();
});

test('read-only opens share the file with each other and with a writer', () => {
  const file = tmpFile('kv-ro');
  const w = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  w.put('k', 'v');
  w.close();
  const r1 = KVStore.open(file, { readOnly: true });
  const r2 = KVStore.open(file, { readOnly: true });
  expect(r2.getString('k')).toBe('v');
  // Readers hold no lock: a writer opens beside them, and they see its writes.
  const w2 = KVStore.open(file);
  w2.put('k2', 'v2');
  expect(r1.getString('k2')).toBe('v2');
  w2.close();
  for (const f of [() => r1.put('a', 'b'), () => r1.delete('k'), () => r1.batch([]), () => r1.rename('k', 'x'), () => r1.compact()]) {
    expectPmemError(f, 'ERR_PMEM_READONLY');
  }
  expect([...r1.keys({ encoding: 'utf8' })]).toEqual(['k', 'k2']);
  r1.close();
  r2.close();
  KVStore.open(file).close();
});

// A lone surrogate has no UTF-8 form: its bytes were U+FFFD's, so 'a\ud800'
// and 'a\udfff' were one key (a put of one overwrote the other), and a
// value holding one read back as another string.
test('a string with a lone surrogate is refused as a key by every method, and as a value, with nothing written', () => {
  const file = tmpFile('kv-surrogate');
  const s = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  s.put('a\ufffd', 'replacement');
  s.put('pair \ud83d\ude00', 'a surrogate pair is a character');
  const before = fs.readFileSync(file);
  const bad = ['a\ud800', 'a\udfff', '\ud800', 'x\ude00y', 'é\ud800'];
  const reader = KVStore.open(file, { readOnly: true });
  const target = Buffer.alloc(64);
  for (const k of bad) {
    const calls: Array<[string, () => unknown]> = [
      ['put', () => s.put(k, 'v')], ['get', () => s.get(k)], ['getString', () => s.getString(k)], ['getInto', () => s.getInto(k, target)],
      ['has', () => s.has(k)], ['delete', () => s.delete(k)], ['batch put', () => s.batch([{ type: 'put', key: k, value: 'v' }])],
      ['batch del', () => s.batch([{ type: 'del', key: k }])], ['rename from', () => s.rename(k, 'b')], ['rename to', () => s.rename('a\ufffd', k)],
      ['range gte', () => [...s.range({ gte: k })]], ['range prefix', () => [...s.range({ prefix: k })]],
      ['reader get', () => reader.get(k)], ['reader has', () => reader.has(k)],
    ];
    for (const [what, call] of calls) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect([what, k, err]).toEqual([what, k, expect.any(TypeError)]);
      expect((err as Error).message).toMatch(/must be a well-formed string: a lone surrogate has no UTF-8 form/);
    }
  }
  for (const v of bad) {
    expect(() => s.put('k', v)).toThrow(new TypeError('value must be a well-formed string: a lone surrogate has no UTF-8 form'));
    expect(() => s.batch([{ type: 'put', key: 'k', value: v }])).toThrow(new TypeError('ops[0].value must be a well-formed string: a lone surrogate has no UTF-8 form'));
  }
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  // Well-formed strings are taken as before, non-ASCII ones too.
  expect(s.getString('a\ufffd')).toBe('replacement');
  expect(s.getString('pair \ud83d\ude00')).toBe('a surrogate pair is a character');
  s.put('é', 'ü \ud83d\ude00');
  expect(s.getString('é')).toBe('ü \ud83d\ude00');
  expect(s.count).toBe(3);
  reader.close();
  s.close();
});

test('a lock held by a SIGKILLed process is gone with it', () => {
  const file = tmpFile('kv-killed-lock');
  KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 }).close();
  const child = spawnSync(process.execPath, ['-e', `
    const { KVStore } = require(${JSON.stringify(dist)});
    const s = KVStore.open(${JSON.stringify(file)}); s.put('from child', 'yes');
    process.kill(process.pid, 'SIGKILL');`], { encoding: 'utf8' });
  expect(child.signal).toBe('SIGKILL');
  const s = KVStore.open(file);
  expect(s.getString('from child')).toBe('yes');
  s.close();
});

test('a full store names what did not fit: a put as one record, a batch as its entries in one record', () => {
  const seg = 64 * 1024;
  const s = KVStore.open(tmpFile('kv-full-batch'), { create: true, size: 4096 + 4 * seg, segmentSize: seg });
  const value = 'b'.repeat(30 * 1024);
  expect(() => s.batch(Array.from({ length: 8 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value })))).toThrow(
    expect.objectContaining({ code: 'ERR_PMEM_NO_SPACE', message: expect.stringMatching(/^the store is full: no room for a batch of 8 entries \(one \d+-byte record\) in /) }),
  );
  s.put('one', value);
  s.put('two', value);
  expect(() => { for (let i = 0; ; i++) s.put(`p${i}`, value); }).toThrow(
    expect.objectContaining({ code: 'ERR_PMEM_NO_SPACE', message: expect.stringMatching(/^the store is full: no room for a \d+-byte record in /) }),
  );
  s.close();
});

test('the file grows online up to maxSize, then writes fail with ERR_PMEM_NO_SPACE and reads go on', () => {
  const file = tmpFile('kv-grow');
  const seg = 4096;
  const s = KVStore.open(file, { create: true, size: 4096 + 4 * seg, maxSize: 4096 + 64 * seg, segmentSize: seg });
  const value = 'g'.repeat(500);
  let n = 0;
  let err: unknown;
  try {
    for (;;) s.put(`k${n++}`, value);
  } catch (e) {
    err = e;
  }
  n--;
  expect((err as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
  expect(s.stats().fileBytes).toBe(4096 + 64 * seg);
  expect(fs.statSync(file).size).toBe(4096 + 64 * seg);
  expect(n).toBeGreaterThan(300);
  for (let i = 0; i < n; i++) expect(s.getString(`k${i}`)).toBe(value);
  expectPmemError(() => s.put('x', value), 'ERR_PMEM_NO_SPACE');
  expect(s.getString('k0')).toBe(value);
  // Deletes still work (they may use the segment kept for compaction),
  // and then so do writes.
  for (let i = 0; i < 100; i++) expect(s.delete(`k${i}`)).toBe(true);
  s.put('x', value);
  s.close();
  const t = KVStore.open(file, { maxSize: 1 << 20 });
  expect(t.count).toBe(n - 100 + 1);
  expect(t.getString('x')).toBe(value);
  t.close();
});

test('values of 16 MiB and more, up to the 64 MiB limit', () => {
  const file = tmpFile('kv-big');
  const s = KVStore.open(file, { create: true, size: 16 << 20, maxSize: 160 << 20 });
  const big = Buffer.alloc(16 << 20, 0xab);
  big.write('head');
  s.put('big', big);
  expect(s.get('big')!.equals(big)).toBe(true);
  expectThrowName(() => s.put('too big', Buffer.alloc((64 << 20) + 1)), 'RangeError');
  s.put('limit', Buffer.alloc(64 << 20, 1));
  expect(s.get('limit')!.length).toBe(64 << 20);
  s.close();
  const t = KVStore.open(file);
  expect(t.get('big')!.equals(big)).toBe(true);
  t.close();
});

test('a file that is not a store is ERR_PMEM_NOT_A_STORE', () => {
  const garbage = tmpFile('kv-garbage');
  fs.writeFileSync(garbage, Buffer.alloc(1 << 16, 0x5a));
  expectPmemError(() => KVStore.open(garbage), 'ERR_PMEM_NOT_A_STORE');
  expectPmemError(() => KVStore.open(garbage, { create: true, size: 1 << 16, segmentSize: 4096 }), 'ERR_PMEM_NOT_A_STORE');
  const zeros = tmpFile('kv-zeros');
  fs.writeFileSync(zeros, Buffer.alloc(1 << 16));
  expectPmemError(() => KVStore.open(zeros), 'ERR_PMEM_NOT_A_STORE');
  expectPmemError(() => KVStore.open(zeros, { readOnly: true }), 'ERR_PMEM_NOT_A_STORE');
  const tiny = tmpFile('kv-tiny');
  fs.writeFileSync(tiny, Buffer.alloc(100));
  expectPmemError(() => KVStore.open(tiny), 'ERR_PMEM_NOT_A_STORE');
  const empty = tmpFile('kv-empty');
  fs.writeFileSync(empty, '');
  expectPmemError(() => KVStore.open(empty), 'ERR_PMEM_NOT_A_STORE');
  // An empty file is formatted by create; an all-zero one is not.
  expectPmemError(() => KVStore.open(zeros, { create: true, size: 1 << 16, segmentSize: 4096 }), 'ERR_PMEM_NOT_A_STORE');
  const s = KVStore.open(empty, { create: true, size: 1 << 16, segmentSize: 4096 });
  s.put('ok', '1');
  s.close();
  // Every failed open released its lock: a failure is NOT_A_STORE, never LOCKED.
  expectPmemError(() => KVStore.open(garbage), 'ERR_PMEM_NOT_A_STORE');
});

test('a store closed cleanly reopens with nothing discarded, though its reused segments hold leftovers after their tails', () => {
  const file = tmpFile('kv-leftovers');
  const s = KVStore.open(file, { create: true, size: 16 << 20, segmentSize: 65536 });
  // Values of changing sizes, compacted again and again: segments are freed
  // and reused, and each new use ends somewhere else than the last one did.
  for (let r = 0; r < 30; r++) {
    for (let i = 0; i < 200; i++) s.put(`k${i}`, Buffer.alloc(100 + ((i * 37 + r * 101) % 900), 1 + r));
    s.compact();
  }
  s.close();
  // Without the end marks a writer leaves, recovery counted those leftovers
  // (2,325 bytes here) as a discarded tail.
  const t = KVStore.open(file);
  expect(t.stats().recovery.discardedBytes).toBe(0);
  expect(t.count).toBe(200);
  for (let i = 0; i < 200; i++) expect(t.get(`k${i}`)!.length).toBe(100 + ((i * 37 + 29 * 101) % 900));
  t.put('after', 'reopen');
  t.close();
  const u = KVStore.open(file);
  expect(u.stats().recovery.discardedBytes).toBe(0);
  expect(u.getString('after')).toBe('reopen');
  u.close();
});

test("a store whose region its owner closed first closes without its end mark, and every put is there at the next open", () => {
  const file = tmpFile('kv-owner-closed');
  const m = openMapping(file, { create: true, size: 16 << 20 });
  const s = KVStore.openRegion(m, { create: true, segmentSize: 65536 });
  for (let i = 0; i < 100; i++) s.put(`k${i}`, `v${i}`);
  m.close();
  // The end mark cannot be written into an unmapped region: close() goes
  // on without it (ERR_PMEM_CLOSED inside), and the store is closed.
  expect(() => s.close()).not.toThrow();
  expect(s.closed).toBe(true);
  expectPmemError(() => s.get('k0'), 'ERR_PMEM_CLOSED');
  const again = openMapping(file);
  const t = KVStore.openRegion(again);
  expect(t.count).toBe(100);
  for (let i = 0; i < 100; i++) expect(t.getString(`k${i}`)).toBe(`v${i}`);
  t.close();
  again.close();
});

test('damage in the middle of a segment is ERR_PMEM_CORRUPT; a torn tail is dropped', () => {
  const file = tmpFile('kv-damage');
  const s = KVStore.open(file, { create: true, size: 1 << 16, segmentSize: 4096 });
  for (let i = 0; i < 10; i++) s.put(`k${i}`, `value ${i}`);
  s.close();
  const m = openMapping(file);
  const b = m.buffer;
  // The third record's key: segments start at 4096, after a 64-byte header;
  // each record here is 16 + 8 + 2 + 7 = 33 → 40 bytes.
  const third = 4096 + 64 + 2 * 40;
  expect(b.toString('latin1', third + 24, third + 26)).toBe('k2');
  b[third + 24] ^= 1;
  m.persist(third + 24, 1);
  expectPmemError(() => KVStore.open(file), 'ERR_PMEM_CORRUPT');
  b[third + 24] ^= 1;
  const last = 4096 + 64 + 9 * 40;
  b[last + 30] ^= 1; // the last record: a torn tail
  m.persist(0, b.length);
  m.close();
  const t = KVStore.open(file);
  expect(t.count).toBe(9);
  expect(t.has('k9')).toBe(false);
  expect(t.stats().recovery.discardedBytes).toBeGreaterThan(0);
  t.put('k9', 'again');
  t.close();
  const u = KVStore.open(file);
  expect(u.getString('k9')).toBe('again');
  u.close();
});

test('native/kv/scan.cc uses the record format of lib/kv/format.ts, or format.ts refuses to load', () => {
  /* eslint-disable @typescript-eslint/no-var-requires */
  const { binding } = require('../lib/core/binding') as typeof import('../lib/core/binding');
  const format = require('../lib/kv/format') as unknown as Record<string, number>;
  const names = ['RECORD_HEADER_BYTES', 'ENTRY_HEADER_BYTES', 'MAX_KEY', 'MAX_VALUE', 'ENTRY_PUT', 'ENTRY_DEL'];
  expect(Object.keys(binding.kvConstants).sort()).toEqual([...names].sort());
  for (const name of names) expect(binding.kvConstants[name]).toBe(format[name]);
  // An addon built from other constants (or one without them): the module throws at load.
  for (const [constants, message] of [
    [{ ...binding.kvConstants, ENTRY_HEADER_BYTES: 9 }, 'ENTRY_HEADER_BYTES is 8, but native/kv/scan.cc has 9'],
    [undefined, 'RECORD_HEADER_BYTES is 16, but native/kv/scan.cc has undefined'],
  ] as const) {
    jest.isolateModules(() => {
      jest.doMock('../lib/core/binding', () => {
        const real = jest.requireActual('../lib/core/binding') as typeof import('../lib/core/binding');
        return { ...real, binding: { ...real.binding, kvConstants: constants } };
      });
      expect(() => require('../lib/kv/format')).toThrow(message);
      jest.dontMock('../lib/core/binding');
    });
  }
  /* eslint-enable @typescript-eslint/no-var-requires */
});

test('sealRecord stores the checksum validRecord expects', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { validRecord } = require('../lib/kv/format') as typeof import('../lib/kv/format');
  const sim = new CrashSim(256);
  const b = sim.bytes;
  const at = 64;
  // One put entry: key "ab", value "xyz" (8 + 2 + 3 = 13 bytes), padded to 32.
  b.writeUInt32LE(13, at + 4);
  b.writeUInt32LE(1, at + 8);
  b[at + 16] = 1;
  b.writeUInt16LE(2, at + 18);
  b.writeUInt32LE(3, at + 20);
  b.write('ab', at + 24, 'latin1');
  expect(validRecord(b, at, b.length, 7)).toBe(0);
  // The value goes in as the seal's source, as a put writes it.
  sealRecord(sim, at, at + 16 + 13, 7, true, Buffer.from('xyz'));
  expect(b.toString('latin1', at + 24, at + 29)).toBe('abxyz');
  expect(validRecord(b, at, b.length, 7)).toBe(32);
  expect(validRecord(b, at, b.length, 8)).toBe(0); // another seed: another checksum
  expect(validRecord(sim.persisted(), at, b.length, 7)).toBe(32); // durable on return
});

test('kvEntries lists every entry with the hash the index files its key under, and checks its arguments again', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { binding } = require('../lib/core/binding') as typeof import('../lib/core/binding');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { KEY_HASH_SEED: seed, KvIndex } = require('../lib/kv/hash-index') as typeof import('../lib/kv/hash-index');
  const b = Buffer.alloc(64 * 1024);
  type E = { type: number; key: Buffer; value: Buffer };
  // Writes one sealed record at `at`; returns the offset after it.
  const record = (at: number, entries: E[]): number => {
    let p = at + 16;
    for (const e of entries) {
      b[p] = e.type;
      b.writeUInt16LE(e.key.length, p + 2);
      b.writeUInt32LE(e.value.length, p + 4);
      e.key.copy(b, p + 8);
      e.value.copy(b, p + 8 + e.key.length);
      p += 8 + e.key.length + e.value.length;
    }
    b.writeUInt32LE(p - at - 16, at + 4);
    b.writeUInt32LE(entries.length, at + 8);
    b.writeUInt32LE(binding.crc32c(b, at + 4, p - at - 4, 0), at);
    return (p + 7) & ~7;
  };
  const put = (key: Buffer, value = Buffer.from('v')): E => ({ type: 1, key, value });
  const del = (key: Buffer): E => ({ type: 2, key, value: Buffer.alloc(0) });
  let at = 64;
  at = record(at, [put(Buffer.from('k000000000012345'), Buffer.alloc(100, 1))]);
  at = record(at, [put(Buffer.alloc(0)), put(Buffer.from([0xff, 0x00, 0x80])), del(Buffer.from('gone'))]);
  at = record(at, [put(Buffer.alloc(4096, 0xab), Buffer.alloc(3))]);
  at = record(at, [put(Buffer.from('é', 'utf8'))]);
  const recs = new Uint32Array(8);
  const n = binding.kvScan(b, 64, b.length, 0, recs);
  expect(n).toBe(4);
  const total = 6;
  const off = new Uint32Array(total);
  const hash = new Uint32Array(total);
  const meta = new Uint32Array(total);
  const klen = new Uint16Array(total);
  expect(binding.kvEntries(b, recs, n, off, hash, meta, klen, seed)).toBe(total);
  // The same walk in JavaScript, and the index's own hash (of bytes and of the key string).
  const index = new KvIndex(b);
  let k = 0;
  for (let r = 0; r < n; r++) {
    let p = recs[r] + 16;
    for (let i = 0; i < b.readUInt32LE(recs[r] + 8); i++, k++) {
      const kl = b.readUInt16LE(p + 2);
      const size = 8 + kl + b.readUInt32LE(p + 4);
      expect([off[k], hash[k], meta[k], klen[k]]).toEqual([p, index.hashEntry(p), (size | (b[p] === 1 ? 0 : 0x80000000)) >>> 0, kl]);
      // Filed under the native hash, the key is found by its string (hashString).
      const byNative = new KvIndex(b);
      byNative.setEntry(p, hash[k], kl);
      expect(byNative.get(b.toString('latin1', p + 8, p + 8 + kl))).toBe(p);
      p += size;
    }
  }
  expect(k).toBe(total);
  // Under another seed, other hashes: the index's own is the one passed.
  const other = new Uint32Array(total);
  binding.kvEntries(b, recs, n, off, other, meta, klen, (seed ^ 0x5bd1e995) >>> 0);
  expect(Array.from(other)).not.toEqual(Array.from(hash));
  expectThrowName(() => binding.kvEntries(b, recs, n, off, hash, meta, klen, 2 ** 32), 'RangeError');
  expectThrowName(() => binding.kvEntries(b, recs, n, off, hash, meta, klen, -1), 'RangeError');
  expectThrowName(() => binding.kvEntries(b, recs, n, off, hash, meta, klen, '1' as never), 'TypeError');
  expectThrowName(() => (binding.kvEntries as (...a: unknown[]) => number)(b, recs, n, off, hash, meta, klen), 'TypeError');
  // Arguments: types, n, short outputs, and offsets that hold no well-formed record.
  expectThrowName(() => binding.kvEntries('x' as never, recs, n, off, hash, meta, klen, seed), 'TypeError');
  expectThrowName(() => binding.kvEntries(b, new Int32Array(8) as never, n, off, hash, meta, klen, seed), 'TypeError');
  expectThrowName(() => binding.kvEntries(b, recs, n, off, hash, meta, new Uint32Array(total) as never, seed), 'TypeError');
  expectThrowName(() => binding.kvEntries(b, recs, n, off, new Uint16Array(total) as never, meta, klen, seed), 'TypeError');
  expectThrowName(() => binding.kvEntries(b, recs, 9, off, hash, meta, klen, seed), 'RangeError');
  expectThrowName(() => binding.kvEntries(b, recs, -1, off, hash, meta, klen, seed), 'RangeError');
  expectThrowName(() => binding.kvEntries(b, recs, n, off, hash, new Uint32Array(5), klen, seed), 'RangeError');
  expectThrowName(() => binding.kvEntries(b, Uint32Array.of(b.length - 8), 1, off, hash, meta, klen, seed), 'RangeError');
  expectThrowName(() => binding.kvEntries(b, Uint32Array.of(2 ** 32 - 1), 1, off, hash, meta, klen, seed), 'RangeError');
  const bad = Buffer.alloc(256);
  bad.writeUInt32LE(100, 4); // 100 entry bytes, 1 entry, whose value runs past them
  bad.writeUInt32LE(1, 8);
  bad[16] = 1;
  bad.writeUInt32LE(200, 20);
  expectThrowName(() => binding.kvEntries(bad, Uint32Array.of(0), 1, off, hash, meta, klen, seed), 'RangeError');
  bad.writeUInt32LE(1000, 4); // entry bytes past the buffer
  expectThrowName(() => binding.kvEntries(bad, Uint32Array.of(0), 1, off, hash, meta, klen, seed), 'RangeError');
  bad.writeUInt32LE(100, 4);
  bad.writeUInt32LE(2, 8); // a second entry with no room for its header
  bad.writeUInt32LE(92, 20);
  expectThrowName(() => binding.kvEntries(bad, Uint32Array.of(0), 1, off, hash, meta, klen, seed), 'RangeError');
  expect(binding.kvEntries(b, recs, 0, off, hash, meta, klen, seed)).toBe(0);
});

test('the native scan and lock check their arguments again', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { binding } = require('../lib/core/binding') as typeof import('../lib/core/binding');
  const b = Buffer.alloc(4096);
  const out = new Uint32Array(4);
  expectThrowName(() => binding.kvScan(b, 0, 5000, 0, out), 'RangeError');
  expectThrowName(() => binding.kvScan(b, 100, 50, 0, out), 'RangeError');
  expectThrowName(() => binding.kvScan(b, 0, 64, 2 ** 33, out), 'RangeError');
  expectThrowName(() => binding.kvScan(b, -1, 64, 0, out), 'RangeError');
  expectThrowName(() => binding.kvScan('x' as never, 0, 64, 0, out), 'TypeError');
  expectThrowName(() => binding.kvScan(b, 0, 64, 0, new Float64Array(4) as never), 'TypeError');
  expect(binding.kvScan(b, 0, 4096, 0, out)).toBe(0);
  expectThrowName(() => binding.lockFile(1 as never, true, false), 'TypeError');
});

test('unordered(): every entry of a prefix, in no order, without building a key order', () => {
  const file = tmpFile('unordered.kv');
  const store = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 4096 });
  try {
    const want = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      const k = `${i % 3 === 0 ? 'a' : 'b'}:${i}`;
      store.put(k, `v${i}`);
      want.set(k, `v${i}`);
    }
    store.put('a:0', 'rewritten');
    want.set('a:0', 'rewritten');
    store.delete('b:1');
    want.delete('b:1');
    store.compact(); // entries move: the walk reads the live ones wherever they are
    const all = new Map([...store.unordered()].map(([k, v]) => [k.toString(), v.toString()]));
    expect(all).toEqual(want);
    const onlyA = [...store.unordered('a:', { encoding: 'latin1' })];
    expect(onlyA.length).toBe([...want.keys()].filter((k) => k.startsWith('a:')).length);
    for (const [k, v] of onlyA) expect(want.get(k)).toBe(v);
    expect([...store.unordered(Buffer.from([0xff]))]).toEqual([]);
    // latin1 strings are the bytes, whatever they are.
    store.put(Buffer.from([0xc3, 0x00, 0xff]), Buffer.from([0x80, 0x81]));
    const [[bk, bv]] = [...store.unordered(Buffer.from([0xc3]), { encoding: 'latin1' })];
    expect(Buffer.from(bk, 'latin1')).toEqual(Buffer.from([0xc3, 0x00, 0xff]));
    expect(Buffer.from(bv, 'latin1')).toEqual(Buffer.from([0x80, 0x81]));
    // An entry deleted during the walk is skipped; one rewritten is skipped or read as it is now, never as it was.
    const it = store.unordered('a:');
    const first = it.next().value as [Buffer, Buffer];
    const rest = [...want.keys()].filter((k) => k.startsWith('a:') && k !== first[0].toString());
    store.delete(rest[0]);
    store.put(rest[1], 'during');
    const seen = new Map([...it].map(([k, v]) => [k.toString(), v.toString()]));
    expect(seen.has(rest[0])).toBe(false);
    expect(seen.get(rest[1]) ?? 'during').toBe('during');
    expect(seen.size).toBeGreaterThan(90);
    // A reader beside the writer walks the same entries (in key order, through its log follower).
    const reader = KVStore.open(file, { readOnly: true });
    try {
      const mine = new Map([...store.unordered('a:', { encoding: 'latin1' })]);
      expect(new Map([...reader.unordered('a:', { encoding: 'latin1' })])).toEqual(mine);
      expect([...reader.unordered('a:')].map(([k]) => k.toString('latin1')).sort()).toEqual([...mine.keys()].sort());
    } finally {
      reader.close();
    }
    expectThrowName(() => store.unordered(42 as never).next(), 'TypeError');
    expectThrowName(() => store.unordered('a', { encoding: 'utf8' } as never).next(), 'TypeError');
    expectThrowName(() => store.unordered('a', { bogus: 1 } as never).next(), 'TypeError');
    expectThrowName(() => store.unordered('k'.repeat(5000)).next(), 'RangeError');
  } finally {
    store.close();
  }
  expectPmemError(() => store.unordered().next(), 'ERR_PMEM_CLOSED');
  fs.rmSync(file, { force: true });
});

test('a sequence floor (an unchecksummed word) within 2^32 of 2^53 is ERR_PMEM_CORRUPT when a writer opens, not a RangeError at a later put', () => {
  const file = tmpFile('floor.kv');
  const db = KVStore.open(file, { create: true, size: 256 * 1024, segmentSize: 4096 });
  db.put('k', 'v0');
  db.close();
  const fd = fs.openSync(file, 'r+');
  const w = Buffer.alloc(8);
  w.writeBigUInt64LE(2n ** 53n - 3n);
  fs.writeSync(fd, w, 0, 8, 2064);
  fs.closeSync(fd);
  expect(() => KVStore.open(file)).toThrow(expect.objectContaining({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(/sequence floor or a segment header is damaged/) }));
  // A reader does not hand sequence numbers out: it reads the store.
  const r = KVStore.open(file, { readOnly: true });
  expect(r.getString('k')).toBe('v0');
  r.close();
});

test("a put asks its seal to load the key's first index slot, and nothing else changes", () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { binding } = require('../lib/core/binding') as typeof import('../lib/core/binding');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { KvIndex } = require('../lib/kv/hash-index') as typeof import('../lib/kv/hash-index');
  // A key's hash, as the index files it: of an entry holding the key.
  const keyHash = (k: string): number => {
    const entry = Buffer.alloc(8 + k.length);
    entry.writeUInt16LE(k.length, 2);
    entry.write(k, 8, 'latin1');
    return new KvIndex(entry).hashEntry(0);
  };
  // Every seal of the mapping's handle records the hint it was given.
  const hints: number[] = [];
  let call = new Float64Array(8);
  const mapOpen = binding.mapOpen;
  binding.mapOpen = (...args) => {
    const h = mapOpen(...args);
    const seal = h.sealRecord;
    call = new Float64Array(h.call);
    h.sealRecord = (src) => {
      hints.push(call[7]);
      return seal(src);
    };
    return h;
  };
  const file = tmpFile('kv-hint');
  let s: KVStore;
  try {
    s = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
  } finally {
    binding.mapOpen = mapOpen;
  }
  const hintOf = (put: () => void): number => {
    hints.length = 0;
    put();
    expect(hints.length).toBe(1);
    expect(call[7]).toBe(0); // taken by the seal
    return hints[0];
  };
  // The home slot of a key of hash h is 8 * (h & mask) bytes into the table.
  const slot = (k: string, mask: number) => 8 * (keyHash(k) & mask);
  const a = hintOf(() => s.put('a', '1'));
  expect(a).toBeGreaterThan(0);
  expect(hintOf(() => s.put('a', '2'))).toBe(a);
  expect(hintOf(() => s.put(Buffer.from('a'), '3'))).toBe(a); // a key given as bytes: the same slot
  expect(hintOf(() => s.put('b', '1')) - a).toBe(slot('b', 1023) - slot('a', 1023));
  // The table is rebuilt larger (768 keys fill its 1024 slots to 3/4): the hints follow it.
  for (let i = 0; i < 800; i++) s.put(`key${i}`, 'v');
  // c and 'a' differ in the hash bit that the larger table's mask adds (the
  // hash is seeded: c is the first letter from 'c' whose hash does).
  let c = 'c';
  while (((keyHash(c) ^ keyHash('a')) & 1024) === 0) c = String.fromCharCode(c.charCodeAt(0) + 1);
  expect(slot(c, 2047) - slot('a', 2047)).not.toBe(slot(c, 1023) - slot('a', 1023));
  const a2 = hintOf(() => s.put('a', '4'));
  expect(hintOf(() => s.put(c, '1')) - a2).toBe(slot(c, 2047) - slot('a', 2047));
  expect([s.getString('a'), s.getString('b'), s.getString(c), s.count]).toEqual(['4', '1', '1', 803]);
  s.close();
  const again = KVStore.open(file);
  expect([again.getString('a'), again.getString(c), again.getString('key799'), again.count]).toEqual(['4', '1', 'v', 803]);
  again.close();
});

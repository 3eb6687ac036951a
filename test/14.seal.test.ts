// sealRecord, sealRecords and sealAndApply (a Mapping's one-call forms
// against the generic ones), store64
// and wordsOf: the primitives the logs build their records with.
import { crc32c, openMapping, sealRecord, store64, type Region } from '../lib';
import { flushRecords, sealAndApply, sealRecords } from '../lib/core/records';
import { wordsOf } from '../lib/core/region';
import { CrashSim, seededRandom } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

/** A Region over a plain Buffer that records its flushes and drains. */
function plainRegion(size: number): Region & { calls: string[] } {
  const bytes = Buffer.alloc(size);
  const calls: string[] = [];
  return {
    bytes,
    length: size,
    granularity: 'cache-line',
    calls,
    flush: (o, l) => void calls.push(`flush ${o} ${l}`),
    drain: () => void calls.push('drain'),
    persist: (o, l) => void calls.push(`persist ${o} ${l}`),
  };
}

test('a mapping seals exactly what the generic form writes, at every size and alignment', () => {
  const size = 1 << 20;
  const m = openMapping(tmpFile('seal'), { size, create: true });
  const plain = plainRegion(size);
  const rnd = seededRandom(14);
  const src = Buffer.alloc(140_000);
  for (let i = 0; i < src.length; i++) src[i] = Math.floor(rnd() * 256);
  const cases: Array<[number, number]> = [];
  for (const len of [0, 1, 63, 64, 100, 191, 192, 255, 256, 257, 1000, 4096, 4100, 65_536, 70_001]) {
    for (const crcAt of [0, 8, 60, 64 * 7 + 24]) cases.push([crcAt, len]);
  }
  for (let i = 0; i < 200; i++) cases.push([Math.floor(rnd() * 4096), Math.floor(rnd() * rnd() * 80_000)]);
  for (const [crcAt, len] of cases) {
    const header = 4 + Math.floor(rnd() * 60);
    const end = crcAt + header + len;
    const payload = src.subarray(Math.floor(rnd() * 64), Math.floor(rnd() * 64) + len).subarray(0, len);
    const seed = Math.floor(rnd() * 0x100000000);
    for (const r of [m.bytes, plain.bytes]) {
      r.fill(0xee, crcAt, end + 64);
      for (let k = 4; k < header; k++) r[crcAt + k] = k;
    }
    const persist = rnd() < 0.5;
    const withSrc = rnd() < 0.8;
    if (!withSrc) {
      payload.copy(m.bytes, end - len);
      payload.copy(plain.bytes, end - len);
    }
    const a = m.sealRecord(crcAt, end, seed, persist, withSrc ? payload : undefined);
    const b = sealRecord(plain, crcAt, end, seed, persist, withSrc ? payload : undefined);
    expect(a).toBe(b);
    expect(a).toBe(crc32c(m.bytes, crcAt + 4, end - crcAt - 4, seed));
    expect(m.bytes.readUInt32LE(crcAt)).toBe(a);
    expect(Buffer.compare(m.bytes.subarray(crcAt, end + 64), plain.bytes.subarray(crcAt, end + 64))).toBe(0);
  }
  m.drain();
  m.close();
});

test('the generic form flushes the whole record and drains only when asked', () => {
  const r = plainRegion(4096);
  sealRecord(r, 64, 200, 7, false, Buffer.from('payload'));
  sealRecord(r, 256, 300, 7, true);
  expect(r.calls).toEqual(['flush 64 136', 'persist 256 44']);
  expect(r.bytes.toString('latin1', 193, 200)).toBe('payload');
  expect(r.bytes.readUInt32LE(64)).toBe(crc32c(r.bytes, 68, 132, 7));
});

test('the crash simulator sees a sealed record as stores, a flush and a fence', () => {
  const sim = new CrashSim(4096, { mode: 'adr' });
  sealRecord(sim, 128, 128 + 100, 1, false, Buffer.alloc(90, 3));
  // Flushed, not fenced: the persisted image does not hold it yet.
  expect(sim.persisted().readUInt32LE(128)).toBe(0);
  sim.drain();
  expect(sim.persisted().subarray(128, 228)).toEqual(sim.bytes.subarray(128, 228));
  sealRecord(sim, 512, 512 + 40, 1, true);
  expect(sim.persisted().readUInt32LE(512)).toBe(crc32c(sim.bytes, 516, 36, 1));
});

test('a source inside the record itself is moved, not torn', () => {
  const m = openMapping(tmpFile('seal-overlap'), { size: 65536, create: true });
  for (let i = 0; i < 4096; i++) m.bytes[1000 + i] = i & 0xff;
  const want = Buffer.from(m.bytes.subarray(1000, 1000 + 3000));
  // src overlaps the destination [1200, 4200): memmove semantics.
  m.sealRecord(1000 - 8, 4200, 0, true, m.bytes.subarray(1000, 4000));
  expect(Buffer.compare(m.bytes.subarray(1200, 4200), want)).toBe(0);
  expect(m.bytes.readUInt32LE(992)).toBe(crc32c(m.bytes, 996, 4200 - 996));
  m.close();
});

test('bad arguments to sealRecord', () => {
  const path = tmpFile('seal-bad');
  const m = openMapping(path, { size: 4096, create: true });
  expectThrowName(() => m.sealRecord(4000, 4100, 0, true), 'RangeError');
  expectThrowName(() => m.sealRecord(100, 102, 0, true), 'RangeError');
  expectThrowName(() => m.sealRecord(200, 100, 0, true), 'RangeError');
  expectThrowName(() => m.sealRecord(0, 64, 0, true, Buffer.alloc(61)), 'RangeError');
  expectThrowName(() => m.sealRecord(0, 64, 2 ** 32, true), 'RangeError');
  expectThrowName(() => m.sealRecord(-1, 64, 0, true), 'RangeError');
  expectThrowName(() => m.sealRecord(0.5, 64, 0, true), 'RangeError');
  expectThrowName(() => m.sealRecord('0' as never, 64, 0, true), 'TypeError');
  expectThrowName(() => m.sealRecord(0, '64' as never, 0, true), 'TypeError');
  expectThrowName(() => m.sealRecord(0, 64, null as never, true), 'TypeError');
  expectThrowName(() => m.sealRecord(0, 64, NaN, true), 'RangeError');
  expectThrowName(() => m.sealRecord(0, 64, 0, 1 as never), 'TypeError');
  expectThrowName(() => m.sealRecord(0, 64, 0, true, new Uint16Array(4) as never), 'TypeError');
  expectThrowName(() => m.sealRecord(0, 64, 0, true, 'text' as never), 'TypeError');
  expectThrowName(() => (m.sealRecord as (...a: unknown[]) => number)(0, 64), 'TypeError');
  expect(m.sealRecord(0, 64, 0, true, Buffer.alloc(60))).toBe(crc32c(Buffer.alloc(60)));
  m.close();
  expectPmemError(() => m.sealRecord(0, 64, 0, true), 'ERR_PMEM_CLOSED');
  const ro = openMapping(path, { readOnly: true });
  expectPmemError(() => ro.sealRecord(0, 64, 0, true), 'ERR_PMEM_READONLY');
  ro.close();

  const r = plainRegion(256);
  expect(() => sealRecord(r, 200, 300, 0, true)).toThrow(RangeError);
  expect(() => sealRecord(r, 10, 12, 0, true)).toThrow(RangeError);
  expect(() => sealRecord(r, 0, 64, 0, true, Buffer.alloc(61))).toThrow(RangeError);
  expect(() => sealRecord(r, 0, 64, 0, true, 'text' as never)).toThrow(TypeError);
  expect(r.calls).toEqual([]);
});

describe('sealRecords', () => {
  /** A batch's table: records laid out from `from` in `lens` order, 8-byte aligned, `gap` bytes apart. */
  function layout(from: number, lens: number[], gap = 0): Float64Array {
    const t = new Float64Array(3 * lens.length);
    let at = from;
    lens.forEach((len, i) => {
      t[3 * i] = at;
      t[3 * i + 1] = at + 32 + len;
      t[3 * i + 2] = -1;
      at = Math.ceil((at + 32 + len) / 8) * 8 + gap;
    });
    return t;
  }

  test('a mapping seals exactly what the generic form writes: runs, jumps back, sources and bytes in place', () => {
    const size = 1 << 20;
    const m = openMapping(tmpFile('seal-batch'), { size, create: true });
    const plain = plainRegion(size);
    const rnd = seededRandom(15);
    const pool = Buffer.alloc(80_000);
    for (let i = 0; i < pool.length; i++) pool[i] = Math.floor(rnd() * 256);
    for (let round = 0; round < 120; round++) {
      const n = 1 + Math.floor(rnd() * 20);
      const lens = Array.from({ length: n }, () => Math.floor(rnd() * rnd() * (rnd() < 0.2 ? 70_000 : 5000)));
      const total = lens.reduce((a, l) => a + 40 + l, 0);
      // Room below `from` for the records that jump back, so that none overlaps another.
      const from = total + 128 + Math.floor(rnd() * (size - 3 * total - 64 * n - 512) / 8) * 8 + (rnd() < 0.5 ? 4 : 0);
      const table = layout(from, lens, rnd() < 0.3 ? 64 * Math.floor(rnd() * 3) : 0);
      // Some records jump back, as the records after a wrap do.
      if (n > 2 && rnd() < 0.5) {
        const cut = 1 + Math.floor(rnd() * (n - 1));
        const back = layout(from - total - 64, lens.slice(cut));
        table.set(back, 3 * cut);
      }
      const srcs: unknown[] = [];
      for (const r of [m.bytes, plain.bytes]) r.fill(0xee, from - total - 64, from + total + 64 * n + 128);
      for (let i = 0; i < n; i++) {
        const at = table[3 * i];
        const end = table[3 * i + 1];
        for (const r of [m.bytes, plain.bytes]) for (let k = 4; k < 32; k++) r[at + k] = (k * 7 + i) & 0xff;
        const payload = pool.subarray(Math.floor(rnd() * 64)).subarray(0, lens[i]);
        if (rnd() < 0.7) {
          table[3 * i + 2] = srcs.length;
          srcs.push(payload);
        } else {
          payload.copy(m.bytes, end - lens[i]);
          payload.copy(plain.bytes, end - lens[i]);
        }
      }
      const seed = Math.floor(rnd() * 0x100000000);
      const persist = rnd() < 0.5;
      m.sealRecords(table, n, seed, persist, srcs);
      sealRecords(plain, table, n, seed, persist, srcs);
      const lo = from - total - 64;
      const hi = from + total + 64 * n + 128;
      expect(Buffer.compare(m.bytes.subarray(lo, hi), plain.bytes.subarray(lo, hi))).toBe(0);
      for (let i = 0; i < n; i++) {
        const at = table[3 * i];
        expect(m.bytes.readUInt32LE(at)).toBe(crc32c(m.bytes, at + 4, table[3 * i + 1] - at - 4, seed));
      }
    }
    m.drain();
    m.close();
  });

  test('the generic form stores every record, then flushes runs that follow each other as one range, then drains once if asked', () => {
    const r = plainRegion(1 << 16);
    // Two records that follow each other, one a line further on, and one back at 0.
    const table = new Float64Array([4096, 4200, 0, 4200, 4300, -1, 4364, 4400, 1, 0, 100, -1]);
    sealRecords(r, table, 4, 9, true, [Buffer.from('first'), Buffer.from('third')]);
    expect(r.calls).toEqual(['flush 4096 204', 'flush 4364 36', 'flush 0 100', 'drain']);
    expect(r.bytes.toString('latin1', 4195, 4200)).toBe('first');
    expect(r.bytes.toString('latin1', 4395, 4400)).toBe('third');
    for (const [at, end] of [[4096, 4200], [4200, 4300], [4364, 4400], [0, 100]]) {
      expect(r.bytes.readUInt32LE(at)).toBe(crc32c(r.bytes, at + 4, end - at - 4, 9));
    }
    r.calls.length = 0;
    sealRecords(r, table, 2, 9, false, [Buffer.from('first')]);
    expect(r.calls).toEqual(['flush 4096 204']);
    r.calls.length = 0;
    flushRecords(r, table, 0);
    expect(r.calls).toEqual([]);
  });

  test('the crash simulator sees the records as stores, flushes and one fence', () => {
    const sim = new CrashSim(8192, { mode: 'adr' });
    const table = new Float64Array([1024, 1024 + 300, 0, 64, 64 + 40, -1]);
    sealRecords(sim, table, 2, 5, false, [Buffer.alloc(268, 4)]);
    expect(sim.persisted().readUInt32LE(1024)).toBe(0);
    sim.drain();
    expect(sim.persisted().subarray(1024, 1324)).toEqual(sim.bytes.subarray(1024, 1324));
    expect(sim.persisted().readUInt32LE(64)).toBe(crc32c(sim.bytes, 68, 36, 5));
  });

  test('bad arguments: each refused before any record is written, on a mapping and in the generic form', () => {
    const path = tmpFile('seal-batch-bad');
    const m = openMapping(path, { size: 4096, create: true });
    const r = plainRegion(4096);
    const ok = [0, 64, -1];
    const bad: Array<[string, Float64Array, number, unknown[], 'TypeError' | 'RangeError']> = [
      ['count past the table', new Float64Array(ok), 2, [], 'RangeError'],
      ['a record out of range', new Float64Array([...ok, 4000, 4100, -1]), 2, [], 'RangeError'],
      ['a record of 2 bytes', new Float64Array([...ok, 100, 102, -1]), 2, [], 'RangeError'],
      ['end before crcAt', new Float64Array([...ok, 200, 100, -1]), 2, [], 'RangeError'],
      ['a negative offset', new Float64Array([...ok, -8, 64, -1]), 2, [], 'RangeError'],
      ['a source index past srcs', new Float64Array([...ok, 128, 192, 1]), 2, [Buffer.alloc(4)], 'RangeError'],
      ['a fractional source index', new Float64Array([...ok, 128, 192, 0.5]), 2, [Buffer.alloc(4)], 'RangeError'],
      ['a source that does not fit', new Float64Array([...ok, 128, 192, 0]), 2, [Buffer.alloc(61)], 'RangeError'],
      ['a source that is a string', new Float64Array([...ok, 128, 192, 0]), 2, ['text'], 'TypeError'],
      ['a source that is a Uint16Array', new Float64Array([...ok, 128, 192, 0]), 2, [new Uint16Array(2)], 'TypeError'],
    ];
    for (const [, table, count, srcs, name] of bad) {
      expectThrowName(() => m.sealRecords(table, count, 0, true, srcs), name);
      expectThrowName(() => sealRecords(r, table, count, 0, true, srcs), name);
      // The first, valid record was not written either.
      expect(m.bytes.readUInt32LE(0)).toBe(0);
      expect(r.bytes.readUInt32LE(0)).toBe(0);
    }
    expect(r.calls).toEqual([]);
    expectThrowName(() => m.sealRecords(new Float32Array(3) as never, 1, 0, true, []), 'TypeError');
    expectThrowName(() => m.sealRecords(new Float64Array(ok), 1, 2 ** 32, true, []), 'RangeError');
    expectThrowName(() => m.sealRecords(new Float64Array(ok), '1' as never, 0, true, []), 'TypeError');
    expectThrowName(() => m.sealRecords(new Float64Array(ok), -1, 0, true, []), 'RangeError');
    expectThrowName(() => m.sealRecords(new Float64Array(ok), 1, 0, 1 as never, []), 'TypeError');
    expectThrowName(() => m.sealRecords(new Float64Array([0, 64, 0]), 1, 0, true, 'srcs' as never), 'RangeError');
    expectThrowName(() => sealRecords(r, new Float64Array(ok), -1, 0, true, []), 'RangeError');
    m.sealRecords(new Float64Array([0, 64, 0]), 1, 0, true, [Buffer.alloc(60)]);
    expect(m.bytes.readUInt32LE(0)).toBe(crc32c(Buffer.alloc(60)));
    m.close();
    expectPmemError(() => m.sealRecords(new Float64Array(ok), 1, 0, true, []), 'ERR_PMEM_CLOSED');
    const ro = openMapping(path, { readOnly: true });
    expectPmemError(() => ro.sealRecords(new Float64Array(ok), 1, 0, true, []), 'ERR_PMEM_READONLY');
    ro.close();
  });
});

describe('sealAndApply', () => {
  test('a mapping writes exactly what the generic form writes', () => {
    const size = 1 << 16;
    const m = openMapping(tmpFile('seal-apply'), { size, create: true });
    const plain = plainRegion(size);
    const rnd = seededRandom(16);
    for (let round = 0; round < 200; round++) {
      // The native form copies up to 1,024 bytes through the stack, longer
      // writes straight from the record: both sides of that bound first.
      const len = round < 2 ? 1024 + round : Math.floor(rnd() * rnd() * 3000);
      const crcAt = Math.floor(rnd() * 8000);
      const end = crcAt + 48 + len + Math.floor(rnd() * 16);
      const from = crcAt + 48;
      const target = 16384 + Math.floor(rnd() * 40000);
      const seed = Math.floor(rnd() * 0x100000000);
      for (const r of [m.bytes, plain.bytes]) {
        for (let k = crcAt; k < end; k++) r[k] = (k * 31 + round) & 0xff;
        r.fill(round & 0xff, target - 64, target + len + 64);
      }
      m.sealAndApply(crcAt, end, seed, target, from, len);
      sealAndApply(plain, crcAt, end, seed, target, from, len);
      expect(m.bytes.readUInt32LE(crcAt)).toBe(crc32c(m.bytes, crcAt + 4, end - crcAt - 4, seed));
      expect(Buffer.compare(m.bytes.subarray(crcAt, end), plain.bytes.subarray(crcAt, end))).toBe(0);
      expect(Buffer.compare(m.bytes.subarray(target - 64, target + len + 64), plain.bytes.subarray(target - 64, target + len + 64))).toBe(0);
      expect(Buffer.compare(m.bytes.subarray(target, target + len), m.bytes.subarray(from, from + len))).toBe(0);
    }
    m.drain();
    m.close();
  });

  test('the generic form: the record persisted, then the bytes copied and flushed, not fenced', () => {
    const r = plainRegion(4096);
    r.bytes.write('new bytes', 112, 'latin1');
    sealAndApply(r, 64, 128, 3, 2048, 112, 9);
    expect(r.calls).toEqual(['persist 64 64', 'flush 2048 9']);
    expect(r.bytes.toString('latin1', 2048, 2057)).toBe('new bytes');
    expect(r.bytes.readUInt32LE(64)).toBe(crc32c(r.bytes, 68, 60, 3));
    // The simulator: the record durable at return, the applied bytes only flushed.
    const sim = new CrashSim(4096, { mode: 'adr' });
    sim.bytes.write('new bytes', 112, 'latin1');
    sealAndApply(sim, 64, 128, 3, 2048, 112, 9);
    expect(sim.persisted().subarray(64, 128)).toEqual(sim.bytes.subarray(64, 128));
    expect(sim.persisted().toString('latin1', 2048, 2057)).not.toBe('new bytes');
    sim.drain();
    expect(sim.persisted().toString('latin1', 2048, 2057)).toBe('new bytes');
  });

  test('bad arguments: refused before anything is written, on a mapping and in the generic form', () => {
    const path = tmpFile('seal-apply-bad');
    const m = openMapping(path, { size: 4096, create: true });
    const r = plainRegion(4096);
    const bad: Array<[number[], 'TypeError' | 'RangeError']> = [
      [[0, 64, 0, 4090, 40, 8], 'RangeError'], // target past the end
      [[0, 64, 0, 1024, 4090, 8], 'RangeError'], // from past the end
      [[4000, 4100, 0, 1024, 40, 8], 'RangeError'], // record past the end
      [[0, 2, 0, 1024, 40, 8], 'RangeError'], // a record of 2 bytes
      [[0, 64, 0, -1, 40, 8], 'RangeError'],
      [[0, 64, 0, 1024, 40, 0.5], 'RangeError'],
    ];
    for (const [args, name] of bad) {
      const [a, b, c, d, e, f] = args;
      expectThrowName(() => m.sealAndApply(a, b, c, d, e, f), name);
      expectThrowName(() => sealAndApply(r, a, b, c, d, e, f), name);
      expect(m.bytes.readUInt32LE(0)).toBe(0);
      expect(r.bytes.readUInt32LE(0)).toBe(0);
    }
    expect(r.calls).toEqual([]);
    expectThrowName(() => m.sealAndApply(0, 64, 2 ** 32, 1024, 40, 8), 'RangeError');
    expectThrowName(() => m.sealAndApply(0, 64, 0, '1024' as never, 40, 8), 'TypeError');
    expectThrowName(() => m.sealAndApply(0, 64, 0, 1024, 40, NaN), 'RangeError');
    m.close();
    expectPmemError(() => m.sealAndApply(0, 64, 0, 1024, 40, 8), 'ERR_PMEM_CLOSED');
    const ro = openMapping(path, { readOnly: true });
    expectPmemError(() => ro.sealAndApply(0, 64, 0, 1024, 40, 8), 'ERR_PMEM_READONLY');
    ro.close();
  });
});

test('store64 is one aligned 8-byte store, and refuses a misaligned address', () => {
  const sim = new CrashSim(256, { mode: 'adr' });
  store64(sim.bytes, 8, 2 ** 53 - 1);
  expect(sim.bytes.readBigUInt64LE(8)).toBe(2n ** 53n - 1n);
  store64(sim.bytes, 16, 0xfedcba9876543210n);
  expect(sim.bytes.readBigUInt64LE(16)).toBe(0xfedcba9876543210n);
  const view = sim.bytes.subarray(8);
  store64(view, 16, 5);
  expect(sim.bytes.readBigUInt64LE(24)).toBe(5n);
  expect(() => store64(sim.bytes, 4, 1)).toThrow(/aligned/);
  expect(() => store64(sim.bytes.subarray(4), 0, 1)).toThrow(/aligned/);
  expect(() => store64(sim.bytes, 252, 1)).toThrow(RangeError);
  expect(() => store64(sim.bytes, -8, 1)).toThrow(RangeError);
});

test('wordsOf addresses the whole buffer behind a view', () => {
  const b = Buffer.alloc(64);
  const view = b.subarray(8, 40);
  const w = wordsOf(view);
  expect(w).toBe(wordsOf(view));
  expect(w.base).toBe(view.byteOffset);
  w.u32[(w.base + 4) / 4] = 0xdeadbeef;
  expect(b.readUInt32LE(12)).toBe(0xdeadbeef);
  w.u64[(w.base + 8) / 8] = 0x0102030405060708n;
  expect(b.readBigUInt64LE(16)).toBe(0x0102030405060708n);
});

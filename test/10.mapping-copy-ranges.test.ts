// Mapping.copyRanges: a table's ranges of a DRAM buffer written one after
// another into a mapping (a sorted run's records), and every way a call
// can be wrong, in the JavaScript checks and again in native code.
import * as fs from 'node:fs';

import { binding } from '../lib/core/binding';
import { openMapping, type Mapping } from '../lib';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

function create(size: number, name = 'ranges'): Mapping {
  return openMapping(tmpFile(name), { size, create: true });
}

/** What copyRanges should write: each entry's bytes, then the terminator unless it is -1. */
function expected(src: Uint8Array, table: Uint32Array, count: number, stride: number, terminator: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(Buffer.from(src.subarray(table[stride * i], table[stride * i + 1])));
    if (terminator >= 0) parts.push(Buffer.from([terminator]));
  }
  return Buffer.concat(parts);
}

/** A seeded generator, so that a failure can be replayed. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

describe('Mapping.copyRanges', () => {
  test('writes the entries in table order, each followed by the terminator, at the offset', () => {
    const m = create(4096);
    const src = Buffer.from('alpha\nbeta\ngamma\n');
    // [start, end) pairs at stride 2: gamma, alpha, beta (without their newlines).
    const table = new Uint32Array([11, 16, 0, 5, 6, 10]);
    const n = m.copyRanges(100, src, table, 3, 2, 10);
    expect(n).toBe(17);
    expect(m.bytes.subarray(100, 117).toString()).toBe('gamma\nalpha\nbeta\n');
    expect(m.bytes[99]).toBe(0);
    expect(m.bytes[117]).toBe(0);
    m.close();
  });

  test('a stride of 4 over the words after the first two, no terminator, empty entries', () => {
    const m = create(4096);
    const src = Buffer.from('0123456789');
    // Words 2 and 3 of each entry are its range, as a sort's record table holds them.
    const t = new Uint32Array([9, 9, 5, 8, 9, 9, 3, 3, 9, 9, 0, 2]);
    expect(m.copyRanges(0, src, t.subarray(2), 3, 4, -1)).toBe(5);
    expect(m.bytes.subarray(0, 6).toString('latin1')).toBe('56701\0');
    expect(m.copyRanges(10, src, t.subarray(2), 0, 4, 10)).toBe(0);
    m.close();
  });

  test('many random ranges across staging blocks, long and short, from shared memory', () => {
    const next = lcg(42);
    const src = Buffer.from(new SharedArrayBuffer(1 << 20));
    for (let i = 0; i < src.length; i++) src[i] = next() & 0xff;
    const count = 20000;
    const table = new Uint32Array(new SharedArrayBuffer(8 * count));
    for (let i = 0; i < count; i++) {
      // Mostly short lines, now and then one longer than a staging block (16 KiB).
      const len = i % 997 === 0 ? 40000 + (next() % 1000) : next() % 120;
      const start = next() % (src.length - len);
      table[2 * i] = start;
      table[2 * i + 1] = start + len;
    }
    const want = expected(src, table, count, 2, 10);
    const m = create(want.length + 64);
    expect(m.copyRanges(64, src, table, count, 2, 10)).toBe(want.length);
    expect(m.bytes.subarray(64).equals(want)).toBe(true);
    m.close();
    // What the mapping wrote is in the file.
    expect(fs.readFileSync(m.path).subarray(64).equals(want)).toBe(true);
  });

  test('bad arguments throw before anything is written', () => {
    const m = create(4096);
    m.fill(0, 0xee, 4096);
    const src = Buffer.from('abcdefgh');
    const pair = (a: number, b: number): Uint32Array => new Uint32Array([0, 4, a, b]);
    // An entry whose end is past src, or before its start: the first entry is good and is not written either.
    expectThrowName(() => m.copyRanges(0, src, pair(2, 9), 2, 2, 10), 'RangeError');
    expectThrowName(() => m.copyRanges(0, src, pair(5, 4), 2, 2, 10), 'RangeError');
    // A table shorter than count entries.
    expectThrowName(() => m.copyRanges(0, src, pair(0, 1), 3, 2, 10), 'RangeError');
    expectThrowName(() => m.copyRanges(0, src, new Uint32Array(1), 1, 2, 10), 'RangeError');
    // The whole past the mapping's end.
    expectThrowName(() => m.copyRanges(4090, src, pair(0, 8), 2, 2, -1), 'RangeError');
    expectThrowName(() => m.copyRanges(4097, src, pair(0, 0), 0, 2, -1), 'RangeError');
    // src overlapping the range written: a view of the mapping itself.
    expectThrowName(() => m.copyRanges(0, m.bytes.subarray(0, 8), pair(0, 8), 2, 2, -1), 'RangeError');
    // Numbers that are not what they must be.
    expectThrowName(() => m.copyRanges(0, src, pair(0, 1), 2, 1, -1), 'RangeError');
    expectThrowName(() => m.copyRanges(0, src, pair(0, 1), 2, 2, 256), 'RangeError');
    expectThrowName(() => m.copyRanges(0, src, pair(0, 1), 2, 2, -2), 'RangeError');
    expectThrowName(() => m.copyRanges(0, src, pair(0, 1), 2, 2, 1.5), 'RangeError');
    expectThrowName(() => m.copyRanges(-1, src, pair(0, 1), 2, 2, -1), 'RangeError');
    expectThrowName(() => m.copyRanges(0, src, pair(0, 1), 0.5, 2, -1), 'RangeError');
    // Types.
    expectThrowName(() => m.copyRanges(0, 'abc' as never, pair(0, 1), 2, 2, -1), 'TypeError');
    expectThrowName(() => m.copyRanges(0, src, new Int32Array(4) as never, 2, 2, -1), 'TypeError');
    expectThrowName(() => m.copyRanges(0, src, [0, 1] as never, 1, 2, -1), 'TypeError');
    expectThrowName(() => m.copyRanges('0' as never, src, pair(0, 1), 2, 2, -1), 'TypeError');
    expect(m.bytes.every((b) => b === 0xee)).toBe(true);
    m.close();
  });

  test('native code checks every argument again when called directly', () => {
    const path = tmpFile('ranges-native');
    const h = binding.mapOpen(path, 4096, binding.mapFlags.create);
    const src = Buffer.from('abcdefgh');
    const t = new Uint32Array([0, 4, 2, 9]);
    expectThrowName(() => h.copyRanges(0, src, t, 2, 2, 10), 'RangeError');
    expectThrowName(() => h.copyRanges(0, src, t, 3, 2, 10), 'RangeError');
    expectThrowName(() => h.copyRanges(0, src, t, 1, 1, 10), 'RangeError');
    expectThrowName(() => h.copyRanges(0, src, t, 1, 2, 300), 'RangeError');
    expectThrowName(() => h.copyRanges(0, src, t, 1, 2, -2), 'RangeError');
    expectThrowName(() => h.copyRanges(4093, src, t, 1, 2, -1), 'RangeError');
    expectThrowName(() => h.copyRanges(-1, src, t, 1, 2, -1), 'RangeError');
    expectThrowName(() => h.copyRanges(0, src, t, 2 ** 53, 2, -1), 'RangeError');
    expectThrowName(() => h.copyRanges(0, new Uint16Array(4) as never, t, 1, 2, -1), 'TypeError');
    expectThrowName(() => h.copyRanges(0, src, new Float64Array(4) as never, 1, 2, -1), 'TypeError');
    expectThrowName(() => h.copyRanges(0, src, t, 1, 2, '10' as never), 'TypeError');
    expectThrowName(() => (h.copyRanges as (...a: unknown[]) => number)(0, src), 'TypeError');
    expect(h.copyRanges(0, src, t, 1, 2, 10)).toBe(5);
    h.close();
    expectPmemError(() => h.copyRanges(0, src, t, 1, 2, 10), 'ERR_PMEM_CLOSED');
  });

  test('a read-only mapping refuses it', () => {
    const m = create(4096, 'ranges-ro');
    m.close();
    const ro = openMapping(m.path, { readOnly: true });
    expectPmemError(() => ro.copyRanges(0, Buffer.from('ab'), new Uint32Array([0, 2]), 1, 2, -1), 'ERR_PMEM_READONLY');
    ro.close();
  });
});

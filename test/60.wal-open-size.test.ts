// Wal.open's size, given with a path: checked whenever it is given, as
// KVStore.open checks it (an existing log keeps its size, so without create
// it is only checked), and at most 4 GiB, said as a bound on size, before
// anything is made.
import * as fs from 'node:fs';

import { openMapping, Wal } from '../lib';
import { CrashSim } from '../lib/testing';
import { tmpFile } from './helpers';

test.each([
  ['-1', -1, RangeError, 'size must be a non-negative safe integer, got -1'],
  ['1.5', 1.5, RangeError, 'size must be a non-negative safe integer, got 1.5'],
  ['NaN', NaN, RangeError, 'size must be a non-negative safe integer, got NaN'],
  ['Infinity', Infinity, RangeError, 'size must be a non-negative safe integer, got Infinity'],
  ['2^53', 2 ** 53, RangeError, 'size must be a non-negative safe integer'],
  ['a string', '65536', TypeError, 'size must be a number, got string'],
  ['null', null, TypeError, 'size must be a number, got null'],
])('a size of %s is refused with create and without, and nothing is made or changed', (_name, size, type, message) => {
  const existing = tmpFile('wal-size-existing');
  Wal.open(existing, { create: true, size: 65536 }).close();
  const bytes = fs.readFileSync(existing);
  const missing = tmpFile('wal-size-missing');
  for (const [file, create] of [[existing, false], [existing, true], [missing, true]] as const) {
    expect(() => Wal.open(file, { create, size: size as number })).toThrow(type);
    expect(() => Wal.open(file, { create, size: size as number })).toThrow(message);
  }
  expect(fs.readFileSync(existing).equals(bytes)).toBe(true);
  expect(fs.existsSync(missing)).toBe(false);
});

test('a size past 4 GiB is a RangeError that names size and the bound, not a mapping\'s view(); no file is made', () => {
  const file = tmpFile('wal-size-huge');
  for (const size of [2 ** 32 + 1, 5 * 2 ** 30]) {
    expect(() => Wal.open(file, { create: true, size })).toThrow(new RangeError(`size must be at most ${2 ** 32}, got ${size}`));
  }
  expect(fs.existsSync(file)).toBe(false);
});

test('a size given without create is read once, and an existing log keeps its size', () => {
  const file = tmpFile('wal-size-once');
  Wal.open(file, { create: true, size: 65536 }).close();
  let reads = 0;
  const options = {
    get size(): number {
      reads++;
      return 8192;
    },
  };
  const w = Wal.open(file, options);
  expect(w.region.length).toBe(65536);
  w.close();
  expect(reads).toBe(1);
  expect(fs.statSync(file).size).toBe(65536);
});

test('a region too small for a log is refused with the least size, before anything is written', () => {
  const tooSmall = (length: number, offset = 0): string => {
    const region = new CrashSim(length);
    region.bytes.fill(0x5a);
    let message = '';
    try {
      Wal.format(region, { offset });
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError);
      message = (e as Error).message;
    }
    // Refused: not one byte written.
    expect(region.bytes.every((b) => b === 0x5a)).toBe(true);
    return message;
  };
  const m = /^a 300-byte region is too small for a log: it needs at least (\d+) bytes$/.exec(tooSmall(300));
  expect(m).not.toBeNull();
  const least = Number(m![1]);
  expect(tooSmall(least - 8)).toContain(`it needs at least ${least} bytes`);
  expect(tooSmall(least, 64)).toBe(`a ${least}-byte region is too small for a log at offset 64: it needs at least ${least + 64} bytes`);
  Wal.format(new CrashSim(least));
  const file = tmpFile('wal-small-file');
  expect(() => Wal.open(file, { create: true, size: least - 8 })).toThrow(`it needs at least ${least} bytes`);
  expect(fs.existsSync(file)).toBe(false);
  Wal.open(file, { create: true, size: least }).close();
});

// An existing log opened by path at an offset that is no multiple of 64 was
// "not a write-ahead log: it holds a write-ahead log (Wal) from its start".
test('an offset that is no multiple of 64 is the same RangeError by path, new or existing, as on a mapping', () => {
  const file = tmpFile('offset-100.wal');
  const message = 'offset must be a multiple of 64, got 100';
  expect(() => Wal.open(file, { create: true, size: 1 << 16, offset: 100 })).toThrow(new RangeError(message));
  expect(fs.existsSync(file)).toBe(false);
  Wal.open(file, { create: true, size: 1 << 16 }).close();
  const before = fs.readFileSync(file);
  expect(() => Wal.open(file, { offset: 100 })).toThrow(new RangeError(message));
  expect(() => Wal.open(file, { offset: 100, readOnly: true })).toThrow(new RangeError(message));
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  const m = openMapping(file);
  try {
    expect(() => Wal.open(m, { offset: 100 })).toThrow(new RangeError(message));
  } finally {
    m.close();
  }
  fs.rmSync(file);
});

// Cut to 63 or 64 bytes, a log was said to hold "a pmem superblock of another structure".
test('a log file cut short within its superblock says so', () => {
  const file = tmpFile('cut.wal');
  for (const n of [8, 63, 64, 71]) {
    Wal.open(file, { create: true, size: 1 << 16 }).close();
    fs.truncateSync(file, n);
    expect(() => Wal.open(file)).toThrow(expect.objectContaining({
      code: 'ERR_PMEM_NOT_A_STORE',
      message: expect.stringContaining(`it holds a pmem superblock cut short at ${n} bytes, before its payload says what it belongs to`),
    }));
    fs.rmSync(file);
  }
});

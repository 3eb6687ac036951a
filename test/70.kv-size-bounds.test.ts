// A new store's size against what a put needs: a put keeps two segments
// free, so a store that can never hold three takes no put and is refused
// when it would be made; a store below its maxSize grows all the way to
// it, the last segment included.
import * as fs from 'node:fs';

import { KVStore } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

const SEG = 64 * 1024;
const HEADER = 4096;
const LEAST = HEADER + 3 * SEG;

test.each([
  ['two segments, no maxSize', { size: HEADER + 2 * SEG }],
  ['two and a half segments, no maxSize', { size: HEADER + 2 * SEG + SEG / 2 }],
  ['two segments, growing to a byte short of three', { size: HEADER + 2 * SEG, maxSize: LEAST - 1 }],
  ['maxSize alone, a byte short of three segments', { maxSize: LEAST - 1 }],
])('a new store of %s would take no put: RangeError, and no file is left', (_name, sizes) => {
  const file = tmpFile('kv-too-small');
  expect(() => KVStore.open(file, { create: true, segmentSize: SEG, ...sizes })).toThrow(RangeError);
  expect(() => KVStore.open(file, { create: true, segmentSize: SEG, ...sizes })).toThrow(
    `would take no put: a put keeps two of its ${SEG}-byte segments free, so give a size or maxSize of at least ${LEAST}`,
  );
  expect(fs.existsSync(file)).toBe(false);
});

test.each([0, -0, 1])('a maxSize of %d given is a bound, not the default: RangeError, and no file is left', (maxSize) => {
  const file = tmpFile('kv-max-zero');
  expect(() => KVStore.open(file, { create: true, segmentSize: SEG, maxSize })).toThrow(RangeError);
  expect(() => KVStore.open(file, { create: true, segmentSize: SEG, size: LEAST, maxSize })).toThrow(
    `maxSize (${maxSize}) is below size (${LEAST}): a store never grows past maxSize`,
  );
  expect(fs.existsSync(file)).toBe(false);
  // An existing store below it keeps its size, as below any maxSize.
  KVStore.open(file, { create: true, segmentSize: SEG, size: LEAST }).close();
  const s = KVStore.open(file, { maxSize });
  expect(s.stats().fileBytes).toBe(LEAST);
  s.close();
  fs.rmSync(file);
});

test('the least store takes puts, and so does a two-segment one that may grow to three', () => {
  for (const sizes of [{ size: LEAST }, { size: HEADER + 2 * SEG, maxSize: LEAST }, { maxSize: LEAST }]) {
    const file = tmpFile('kv-least');
    const s = KVStore.open(file, { create: true, segmentSize: SEG, ...sizes });
    s.put('k', 'v');
    expect(s.getString('k')).toBe('v');
    s.close();
    expect(fs.statSync(file).size).toBe(LEAST);
  }
});

test.each([1, 2, 5])('a store %i segment(s) below its maxSize grows to it before it is full', (below) => {
  const file = tmpFile('kv-grow-to-max');
  const maxSize = LEAST + below * SEG;
  const s = KVStore.open(file, { create: true, segmentSize: SEG, size: LEAST, maxSize });
  const value = Buffer.alloc(1000, 7);
  let n = 0;
  expectPmemError(() => {
    for (;;) {
      s.put(`k${n}`, value);
      n++;
    }
  }, 'ERR_PMEM_NO_SPACE');
  expect(fs.statSync(file).size).toBe(maxSize);
  // Every segment but the two a put keeps free holds records.
  expect(s.stats().segments).toEqual({ total: 3 + below, used: 1 + below, free: 2 });
  for (let i = 0; i < n; i += 97) expect(s.get(`k${i}`)).toEqual(value);
  s.close();
});

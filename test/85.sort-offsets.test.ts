// Runs past 2 GiB: Buffer.indexOf and lastIndexOf clamp their start to
// 2^31 - 1, so a text run whose records lie past that must be searched
// through views (indexOfByte, lastIndexOfByte). A run made sparse up to
// 2 GiB, with its cursor there, holds sorted lines after it: the key
// ranges of a parallel merge and a merge source read it from the cursor.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { checkSortOptions } from '../lib/sort/options';
import { partitionRuns } from '../lib/sort/partition';
import { indexOfByte, lastIndexOfByte, RecordOrder } from '../lib/sort/records';
import { PmemSource } from '../lib/sort/sources';
import { testDir } from './helpers';

const GiB2 = 2 ** 31;

test('indexOfByte and lastIndexOfByte find a byte past 2 GiB where Buffer\'s own do not', () => {
  // Untouched pages of a zeroed allocation take no memory.
  const buf = Buffer.alloc(GiB2 + 4096);
  for (const at of [10, GiB2 - 1, GiB2 + 5, GiB2 + 20]) buf[at] = 10;
  expect(indexOfByte(buf, 10, 0)).toBe(10);
  expect(indexOfByte(buf, 10, 11)).toBe(GiB2 - 1);
  expect(indexOfByte(buf, 10, GiB2)).toBe(GiB2 + 5);
  expect(indexOfByte(buf, 10, GiB2 + 6)).toBe(GiB2 + 20);
  expect(indexOfByte(buf, 10, GiB2 + 21)).toBe(-1);
  expect(lastIndexOfByte(buf, 10, GiB2 + 4000)).toBe(GiB2 + 20);
  expect(lastIndexOfByte(buf, 10, GiB2 + 19)).toBe(GiB2 + 5);
  expect(lastIndexOfByte(buf, 10, GiB2 + 4)).toBe(GiB2 - 1);
  expect(lastIndexOfByte(buf, 10, 100)).toBe(10);
  expect(lastIndexOfByte(buf, 10, 9)).toBe(-1);
  // What Buffer's own give for the same starts.
  expect(buf.indexOf(10, GiB2 + 6)).not.toBe(GiB2 + 20);
  expect(buf.lastIndexOf(10, GiB2 + 19)).not.toBe(GiB2 + 5);
});

describe('a text run read from a cursor past 2 GiB', () => {
  const file = path.join(testDir(), `sort-offsets-${process.pid}`);
  const lines = Array.from({ length: 3000 }, (_, i) => `key ${String(i).padStart(6, '0')} ${'v'.repeat(i % 29)}`);
  const body = Buffer.from(lines.join('\n') + '\n');
  const order = new RecordOrder(checkSortOptions({}).format);
  beforeAll(() => {
    // Sparse up to the cursor: those bytes are the part already merged.
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, GiB2 + 100);
    fs.writeSync(fd, body, 0, body.length, GiB2 + 100);
    fs.closeSync(fd);
  });
  afterAll(() => fs.rmSync(file, { force: true }));

  test('its key ranges cut it at line starts, in order, and hold every byte', () => {
    const run = { path: file, start: GiB2 + 100, end: GiB2 + 100 + body.length };
    const parts = partitionRuns([run], order, 4, 0, 64 * 1024 * 1024);
    expect(parts).toHaveLength(4);
    let at = run.start;
    const got: string[] = [];
    for (const p of parts) {
      expect(p.starts[0]).toBe(at);
      at = p.ends[0];
      got.push(...body.subarray(p.starts[0] - run.start, p.ends[0] - run.start).toString().split('\n').filter((l) => l !== ''));
    }
    expect(at).toBe(run.end);
    expect(got).toEqual(lines);
    // Each range has a share of the lines, cut where a line starts.
    for (const p of parts.slice(1)) expect(body[p.starts[0] - run.start - 1]).toBe(10);
    expect(parts.filter((p) => p.bytes > 0).length).toBeGreaterThan(2);
  });

  test('a merge source reads its lines from the cursor', () => {
    const s = new PmemSource(file, GiB2 + 100 + body.length, GiB2 + 100, order, 1 << 20);
    const got: string[] = [];
    try {
      while (!s.done) {
        got.push(s.buf.toString('latin1', s.start, s.end));
        s.next();
      }
    } finally {
      s.close();
    }
    expect(got).toEqual(lines);
  });
});

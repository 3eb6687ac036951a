// The final merge's key ranges (partition.ts): runs read with pread, cut
// where each splitter falls, every record in exactly one range, equal keys
// in one, and ranges of about equal size when every run holds the same
// spread of keys; long lines, runs past the cut window, and damaged run
// files.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PmemError } from '../lib/core/errors';
import { parseKey } from '../lib';
import { checkSortOptions, type SortOptions } from '../lib/sort/options';
import { partitionRuns, type Partition, type RunSpan } from '../lib/sort/partition';
import { RecordOrder } from '../lib/sort/records';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { bytesFrom } = require('../bench/gensort.js') as { bytesFrom(seed: number): () => number };

const MEMORY = 64 * 1024 * 1024;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-partition-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A seeded generator of numbers in [0, 1): gensort's byte stream, the same on every machine. */
function random(seed: number): () => number {
  const next = bytesFrom(seed);
  return () => next() / 2 ** 32;
}

/** Writes `lines` sorted by `order` as a run file; returns its span. */
function writeRun(name: string, lines: Buffer[], order: RecordOrder): RunSpan {
  const sorted = [...lines].sort((a, b) => order.compare(a, 0, a.length, b, 0, b.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat(sorted.flatMap((l) => [l, Buffer.from('\n')])));
  return { path: file, start: 0, end: fs.statSync(file).size };
}

/** Each run's lines in each range; asserts that the ranges cut every run at line starts, in order, with nothing left out. */
function linesByRange(runs: RunSpan[], parts: Partition[], outputOffset = 0): string[][][] {
  let offset = outputOffset;
  for (const p of parts) {
    expect(p.outputOffset).toBe(offset);
    offset += p.bytes;
  }
  expect(offset - outputOffset).toBe(runs.reduce((n, r) => n + r.end - r.start, 0));
  return runs.map((r, i) => {
    const body = fs.readFileSync(r.path);
    let at = r.start;
    const out = parts.map((p) => {
      expect(p.starts[i]).toBe(at);
      expect(p.ends[i]).toBeGreaterThanOrEqual(p.starts[i]);
      if (p.starts[i] > r.start) expect(body[p.starts[i] - 1]).toBe(10);
      at = p.ends[i];
      return body.subarray(p.starts[i], p.ends[i]).toString('latin1').split('\n').slice(0, -1);
    });
    expect(at).toBe(r.end);
    return out;
  });
}

/** Asserts that no two ranges hold records the order calls equal, and that the ranges come in order. */
function expectOrdered(byRange: string[][][], order: RecordOrder): void {
  const ranges = byRange[0].map((_, j) => byRange.flatMap((run) => run[j]).map((l) => Buffer.from(l, 'latin1')));
  const cmp = (a: Buffer, b: Buffer): number => order.compare(a, 0, a.length, b, 0, b.length);
  for (let j = 1; j < ranges.length; j++) {
    if (ranges[j].length === 0) continue;
    const before = ranges.slice(0, j).flat();
    if (before.length === 0) continue;
    const max = before.reduce((m, x) => (cmp(x, m) > 0 ? x : m));
    const min = ranges[j].reduce((m, x) => (cmp(x, m) < 0 ? x : m));
    expect(cmp(max, min)).toBeLessThan(0);
  }
}

test('runs that hold the same spread of keys are cut into ranges of about equal size', () => {
  const order = new RecordOrder(checkSortOptions({}).format);
  const next = random(5);
  // Forty runs of one input: the same few words and numbers in each, as
  // runs formed from one input are.
  const words = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'caf\u00e9', '-12', '7'];
  const runs = Array.from({ length: 40 }, (_, i) => writeRun(`spread-${i}`, Array.from({ length: 3000 }, () =>
    Buffer.from(`${words[Math.floor(next() * words.length)]}${Math.floor(next() * 1000)} ${Math.floor(next() * 1e6)}`)), order));
  const parts = partitionRuns(runs, order, 8, 0, MEMORY);
  expect(parts).toHaveLength(8);
  const total = runs.reduce((n, r) => n + r.end, 0);
  // Every range within a quarter of its share (samples at the same places
  // in every run would cut empty ranges and a few of three times the share).
  for (const p of parts) {
    expect(p.bytes).toBeGreaterThan(0.75 * (total / 8));
    expect(p.bytes).toBeLessThan(1.25 * (total / 8));
  }
  expectOrdered(linesByRange(runs, parts), order);
});

test.each([
  ['lines shorter than the cut window', {}, 20, 60],
  ['lines longer than a sample and than the cut window', {}, 200, 90 * 1024],
  ['a key field of long lines', { keys: [parseKey('2')] }, 1500, 3000],
  ['numbers, reversed', { numeric: true, reverse: true }, 20, 40],
] as const)('%s: every record in one range, at line starts, equal keys together', (_name, options, lines, longest) => {
  const order = new RecordOrder(checkSortOptions(options as SortOptions).format);
  const next = random(lines + longest);
  const line = (): Buffer => {
    // Few distinct keys: many records the order calls equal, across runs.
    const key = `${Math.floor(next() * 40) - 20}`;
    return Buffer.from(`${key} ${key} ${'x'.repeat(Math.floor(next() * longest))}`);
  };
  const runs = Array.from({ length: 6 }, (_, i) => writeRun(`lines-${longest}-${i}`, Array.from({ length: lines }, line), order));
  // One run read from a cursor part way in, as after a resume.
  const body = fs.readFileSync(runs[2].path);
  runs[2].start = body.indexOf(10, Math.floor(body.length / 3)) + 1;
  const parts = partitionRuns(runs, order, 8, 1000, MEMORY);
  const byRange = linesByRange(runs, parts, 1000);
  expectOrdered(byRange, order);
  expect(parts.filter((p) => p.bytes > 0).length).toBeGreaterThan(2);
});

test('fixed-size records are cut at record boundaries, by their key', () => {
  const order = new RecordOrder(checkSortOptions({ recordSize: 100, keyOffset: 5, keyLength: 4 }).format);
  const next = random(11);
  const records = (n: number): Buffer[] => Array.from({ length: n }, () => Buffer.from(Array.from({ length: 100 }, () => Math.floor(next() * 256))));
  const runs = [0, 1, 2].map((i) => {
    const sorted = records(4000).sort((a, b) => order.compare(a, 0, 100, b, 0, 100));
    const file = path.join(dir, `binary-${i}`);
    fs.writeFileSync(file, Buffer.concat(sorted));
    return { path: file, start: 0, end: 400000 };
  });
  const parts = partitionRuns(runs, order, 6, 0, MEMORY);
  for (let i = 0; i < runs.length; i++) {
    const body = fs.readFileSync(runs[i].path);
    let at = 0;
    for (const p of parts) {
      expect(p.starts[i]).toBe(at);
      expect(p.starts[i] % 100).toBe(0);
      at = p.ends[i];
    }
    expect(at).toBe(400000);
    // Each cut: the records before it come before the first after it, by key.
    for (let j = 1; j < parts.length; j++) {
      const c = parts[j].starts[i];
      if (c === 0 || c === 400000) continue;
      expect(order.compare(body, c - 100, c, body, c, c + 100)).toBeLessThan(0);
    }
  }
  expect(parts.filter((p) => p.bytes > 0).length).toBeGreaterThan(3);
});

test('a run of a few very long lines is read about once through, and cut only between them', () => {
  const order = new RecordOrder(checkSortOptions({}).format);
  // Four lines of 2 MiB: 32 sample places fall in each.
  const lines = ['d', 'b', 'c', 'a'].map((c) => Buffer.from(c.repeat(2 * 1024 * 1024)));
  const runs = [writeRun('long-lines', lines, order)];
  // The module itself, whose property every importer's binding reads.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeFs = require('node:fs') as typeof fs;
  const readSync = nodeFs.readSync;
  let read = 0;
  const spy = jest.spyOn(nodeFs, 'readSync').mockImplementation(((...args: Parameters<typeof fs.readSync>) => {
    const n = (readSync as (...a: Parameters<typeof fs.readSync>) => number)(...args);
    read += n;
    return n;
  }) as typeof fs.readSync);
  let parts: Partition[];
  try {
    parts = partitionRuns(runs, order, 2, 0, MEMORY);
  } finally {
    spy.mockRestore();
  }
  // The samples' places (128) read through once: 8 MiB and a block each.
  // Searching from each to the end of its line would read 128 MiB; the
  // one splitter's search reads a few lines more.
  expect(read).toBeGreaterThan(runs[0].end);
  expect(read).toBeLessThan(6 * runs[0].end);
  const byRange = linesByRange(runs, parts);
  expectOrdered(byRange, order);
  expect(byRange[0].flat()).toHaveLength(4);
});

describe('a damaged run is ERR_PMEM_CORRUPT, naming the run', () => {
  const order = new RecordOrder(checkSortOptions({}).format);
  const good = (): RunSpan => writeRun('good', Array.from({ length: 20000 }, (_, i) => Buffer.from(`line ${String(i).padStart(6, '0')}`)), order);

  test.each([
    ['missing', (r: RunSpan) => fs.rmSync(r.path)],
    ['shorter than the checkpoint says', (r: RunSpan) => fs.truncateSync(r.path, r.end - 10)],
    ['a line with no newline', (r: RunSpan) => {
      const b = fs.readFileSync(r.path);
      b.fill(0x41, 100000);
      fs.writeFileSync(r.path, b);
    }],
  ] as const)('%s', (_name, damage) => {
    const r = good();
    damage(r);
    let thrown: unknown;
    try {
      partitionRuns([r], order, 8, 0, MEMORY);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(PmemError);
    expect((thrown as PmemError).code).toBe('ERR_PMEM_CORRUPT');
    expect((thrown as PmemError).path).toBe(r.path);
  });

});

test('a prefix is an int32, in the order of the key\'s bytes, whatever the bytes', () => {
  const order = new RecordOrder(checkSortOptions({}).format);
  const reverse = new RecordOrder(checkSortOptions({ reverse: true }).format);
  const keys = [[0, 0, 0, 0], [0x7f, 0xff, 0xff, 0xff], [0x80, 0, 0, 0], [0xc3, 0xa9, 0x20, 0x41], [0xff, 0xff, 0xff, 0xff]].map((b) => Buffer.from(b));
  const p = keys.map((k) => order.prefix(k, 0, 4));
  const r = keys.map((k) => reverse.prefix(k, 0, 4));
  for (const v of [...p, ...r]) expect(v).toBe(v | 0);
  for (let i = 1; i < keys.length; i++) {
    expect(p[i]).toBeGreaterThan(p[i - 1]);
    expect(r[i]).toBeLessThan(r[i - 1]);
  }
});

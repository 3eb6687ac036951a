// The DRAM a sort with DRAM merge buffers holds: every merge source reads
// through a window cut from one arena (the run buffers' input chunk), on
// one thread or several, through intermediate passes and the final merge;
// no merge allocates a buffer of its own beyond a sink of at most a
// sixteenth of the budget.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort } from '../lib/sort/sort';
import { checkSortOptions } from '../lib/sort/options';
import { RecordOrder } from '../lib/sort/records';
import { DramSource } from '../lib/sort/sources';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-memory-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

function gnu(input: string): Buffer {
  return execFileSync('sort', [input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 28 });
}

test('a DRAM source reads a run through the window it is given, and only a longer line gets a buffer of its own', () => {
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${String(i).padStart(5, '0')} ${'x'.repeat(i % 37)}`);
  lines.splice(1000, 0, 'y'.repeat(10000));
  const run = file('run');
  fs.writeFileSync(run, lines.join('\n') + '\n');
  const arena = Buffer.alloc(3 * 4096);
  const window = arena.subarray(4096, 8192);
  const order = new RecordOrder(checkSortOptions({}).format);
  const s = new DramSource(run, fs.statSync(run).size, 0, order, window);
  const read: string[] = [];
  let inWindow = 0;
  let own = 0;
  try {
    while (!s.done) {
      read.push(s.buf.toString('latin1', s.start, s.end));
      if (s.buf.buffer === arena.buffer && s.buf.byteOffset === window.byteOffset && s.buf.length === window.length) inWindow++;
      else own++;
      s.next();
    }
  } finally {
    s.close();
  }
  expect(read).toEqual(lines);
  // Before the long line, every record was read in the window, refilled
  // many times (the run is 20 windows long); from it on, in a buffer that holds it.
  expect(inWindow).toBe(1000);
  expect(own).toBe(1001);
  // The window's neighbours in the arena are untouched.
  expect(arena.subarray(0, 4096).every((b) => b === 0) && arena.subarray(8192).every((b) => b === 0)).toBe(true);
});

describe('DRAM merge buffers allocate nothing but small sinks', () => {
  const MEMORY = 256 * 1024;
  let input = '';
  beforeAll(() => {
    input = file('in.txt');
    generate('text', 4 * 1024 * 1024, input, 7);
  });

  test.each([[1], [2]])('on %i thread(s), through an intermediate pass and the final merge', (threads) => {
    const sizes: number[] = [];
    const allocUnsafe = Buffer.allocUnsafe;
    const spy = jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      if (n >= 4096) sizes.push(n);
      return allocUnsafe(n);
    });
    let r;
    try {
      r = externalSort(input, file('out.txt'), { memory: MEMORY, mergeBuffers: 'dram', parallel: threads });
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(file('out.txt')).equals(gnu(input))).toBe(true);
    expect(r.threads).toBe(threads);
    expect(r.mergePasses).toBeGreaterThan(1);
    if (threads > 1) expect(r.mergeRanges).toBeGreaterThan(1);
    // One thread: the run buffers' input chunk (40% of the budget) first;
    // two: shared memory, not a Buffer allocation. Then only sinks.
    const chunk = Math.floor(MEMORY * 0.4);
    const rest = threads === 1 ? sizes.slice(1) : sizes;
    if (threads === 1) expect(sizes[0]).toBe(chunk);
    expect(rest.length).toBeGreaterThan(0);
    expect(Math.max(...rest)).toBeLessThanOrEqual(MEMORY / 16);
    // Every sink of every merge, one after another, within the budget.
    expect(rest.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(MEMORY);
  });
});

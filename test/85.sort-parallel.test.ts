// externalSort on several threads (runs formed by workers, the final merge
// cut into key ranges) against one thread and GNU sort: the same bytes for
// every option; an error in a worker is the error one thread would raise;
// a sort stopped at any checkpoint of a parallel phase resumes, on any
// number of threads, to the same output.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { externalSort, parseKey, PmemError, type SortOptions, type SortResult } from '../lib';
import { formingThreadsFor, mergeThreadsFor, threadsFor } from '../lib/sort/formation';
import { pmemWindow, readWindow, readWindows } from '../lib/sort/sources';
import { expectPmemError, fillFilesystem, mountTmpfs, testDir, unmount } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

const MEMORY = 128 * 1024;
/** A budget whose two threads each give the runs below a window of 256 KiB (formation.ts, mergeThreadsFor). */
const BIG_MEMORY = 12 * 1024 * 1024;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-parallel-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

function gnu(input: string, flags: string[]): Buffer {
  return execFileSync('sort', [...flags, input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 28 });
}

/** Sorts with `options` on `threads` threads. */
function sortOn(input: string, out: string, options: SortOptions, threads: number): SortResult & { bytes: Buffer } {
  const r = externalSort(input, out, { ...options, parallel: threads });
  return { ...r, bytes: fs.readFileSync(out) };
}

/**
 * Sorts `input` on one thread and on two: the same bytes as GNU sort with
 * `flags`; two threads formed more runs (each in part of the buffers), and
 * merged them in `ranges` key ranges (one thread in one).
 */
function oneAndTwo(input: string, options: SortOptions, flags: string[], ranges: number): void {
  const o = { ...options, checkpointBytes: 2 ** 40 };
  const one = sortOn(input, `${input}.one`, o, 1);
  const two = sortOn(input, `${input}.two`, o, 2);
  expect(two.bytes.equals(one.bytes)).toBe(true);
  expect(one.bytes.equals(gnu(input, flags))).toBe(true);
  expect([one.threads, two.threads]).toEqual([1, 2]);
  expect(two.runs).toBeGreaterThan(one.runs);
  expect([one.mergeRanges, two.mergeRanges]).toEqual([1, ranges]);
}

const CASES: [string, SortOptions, string[]][] = [
  ['bytes', {}, []],
  ['reverse', { reverse: true }, ['-r']],
  ['numeric', { numeric: true }, ['-n']],
  ['numeric reverse stable', { numeric: true, reverse: true, stable: true }, ['-n', '-r', '-s']],
  ['unique', { unique: true }, ['-u']],
  ['stable -k2', { stable: true, keys: [parseKey('2')] }, ['-s', '-k2']],
  ['-k2,2 -n', { keys: [parseKey('2,2')], numeric: true }, ['-k2,2', '-n']],
  ['-t: -k2 -u -r', { separator: ' ', keys: [parseKey('2')], unique: true, reverse: true }, ['-t', ' ', '-k2', '-u', '-r']],
  ['-k1.3,1.4 -s', { keys: [parseKey('1.3,1.4')], stable: true }, ['-k1.3,1.4', '-s']],
];

describe('two threads and one give the same bytes', () => {
  let input = '';
  beforeAll(() => {
    input = file('in.txt');
    generate('text', 700 * 1024, input, 5);
    // Repeated lines and equal keys across runs (unique, stable), and no newline at the end.
    fs.appendFileSync(input, fs.readFileSync(input).subarray(0, 200 * 1024));
    fs.appendFileSync(input, 'no newline');
  });

  for (const mergeBuffers of ['pmem', 'dram'] as const) {
    test.each(CASES)(`%s (${mergeBuffers} merge buffers)`, (_name, options, flags) => {
      // With DRAM merge buffers two threads merge in key ranges (unique
      // merges on one thread); with PMem ones this budget gives no run a
      // window of 256 KiB on two threads, so one thread merges (the test
      // below has a budget where two do).
      oneAndTwo(input, { ...options, memory: MEMORY, mergeBuffers }, flags, options.unique === true || mergeBuffers === 'pmem' ? 1 : 8);
    });
  }

  describe('with PMem merge buffers and a budget that gives two threads their windows', () => {
    let big = '';
    beforeAll(() => {
      big = file('big.txt');
      generate('text', 5 * 1024 * 1024, big, 15);
      fs.appendFileSync(big, fs.readFileSync(big).subarray(0, 512 * 1024));
    });

    test.each(CASES)('%s', (_name, options, flags) => {
      oneAndTwo(big, { ...options, memory: BIG_MEMORY }, flags, options.unique === true ? 1 : 8);
    });
  });

  test('gensort records, binary with 10-byte keys, ties in input order', () => {
    const bin = file('in.bin');
    generate('binary', 70000 * 100, bin, 6);
    fs.appendFileSync(bin, fs.readFileSync(bin).subarray(0, 5000 * 100));
    const o: SortOptions = { memory: BIG_MEMORY, recordSize: 100, checkpointBytes: 2 ** 40 };
    const one = sortOn(bin, file('one.bin'), o, 1);
    const two = sortOn(bin, file('two.bin'), o, 2);
    expect(two.bytes.equals(one.bytes)).toBe(true);
    expect(two.runs).toBeGreaterThan(one.runs);
    expect(two.mergeRanges).toBe(8);
  });

  test('a line too long for a thread\'s part of the buffers is sorted as one thread sorts it', () => {
    const long = file('long.txt');
    const line = Buffer.alloc(Math.floor(MEMORY * 0.25), 0x6d);
    fs.writeFileSync(long, Buffer.concat([fs.readFileSync(input).subarray(0, 60 * 1024), line, Buffer.from('\n'), fs.readFileSync(input).subarray(0, 30 * 1024)]));
    const one = sortOn(long, file('one.txt'), { memory: MEMORY }, 1);
    const two = sortOn(long, file('two.txt'), { memory: MEMORY }, 2);
    expect(two.bytes.equals(one.bytes)).toBe(true);
    expect(one.bytes.equals(gnu(long, []))).toBe(true);
  });

  test('lines of 64 KiB and more on average merge in one range on two threads: key ranges would probe whole lines', () => {
    const long = file('longlines.txt');
    const lines: Buffer[] = [];
    for (let i = 0; i < 12; i++) lines.push(Buffer.alloc(300 * 1024 + i * 7919, 0x61 + ((i * 5) % 26)), Buffer.from(`${i}\n`));
    fs.writeFileSync(long, Buffer.concat(lines));
    const o: SortOptions = { memory: BIG_MEMORY, checkpointBytes: 2 ** 40 };
    const two = sortOn(long, file('two-long.txt'), o, 2);
    expect(two.runs).toBeGreaterThan(1);
    expect(two.mergeRanges).toBe(1);
    expect(two.bytes.equals(gnu(long, []))).toBe(true);
    // Just under 64 KiB a line on average: cut into ranges as before.
    const short = file('shortlines.txt');
    fs.writeFileSync(short, Buffer.concat(Array.from({ length: 200 }, (_, i) => Buffer.concat([Buffer.alloc(60 * 1024, 0x61 + (i % 26)), Buffer.from(`${i}\n`)]))));
    const cut = sortOn(short, file('two-short.txt'), o, 2);
    expect(cut.mergeRanges).toBeGreaterThan(1);
    expect(cut.bytes.equals(gnu(short, []))).toBe(true);
  });

  test('pmem sort --parallel 1 and 2 give the same bytes; a bad count is a usage error', () => {
    const bin = path.resolve(__dirname, '..', 'bin', 'pmem');
    const run = (args: string[]) => spawnSync(process.execPath, [bin, 'sort', ...args], { encoding: 'utf8' });
    for (const n of ['1', '2']) {
      const r = run(['-S', String(MEMORY), '--parallel', n, '-k2,2', '-n', input, '-o', file(`cli-${n}.txt`)]);
      expect(r.status).toBe(0);
    }
    expect(fs.readFileSync(file('cli-1.txt')).equals(fs.readFileSync(file('cli-2.txt')))).toBe(true);
    for (const bad of ['0', '9', 'x']) expect(run(['--parallel', bad, input, '-o', file('bad.txt')]).status).toBe(2);
    expect(() => externalSort(input, file('bad.txt'), { parallel: 0 })).toThrow(RangeError);
    expect(() => externalSort(input, file('bad.txt'), { parallel: 9 })).toThrow(RangeError);
    expect(() => externalSort(input, file('bad.txt'), { parallel: '2' as unknown as number })).toThrow(TypeError);
  });
});

test('runs on persistent memory are read in place, elsewhere with pread: the same bytes on one thread and in key ranges on two', () => {
  const input = file('reads.txt');
  generate('text', 10 * 1024 * 1024, input, 14);
  const expected = gnu(input, ['-k2', '-u']);
  const bin = path.resolve(__dirname, '..', 'bin', 'pmem');
  const env = { ...process.env };
  delete env.PMEM_IS_PMEM_FORCE;
  const seen: string[] = [];
  for (const forced of [false, true]) {
    for (const [threads, unique] of [[1, false], [2, false], [2, true]] as const) {
      const out = file(`reads-${forced}-${threads}-${unique}.txt`);
      // libpmem reads PMEM_IS_PMEM_FORCE when it loads: a process of its own for each.
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', String(BIG_MEMORY), '--parallel', String(threads), '-k2', ...(unique ? ['-u'] : []),
        input, '-o', out, '--json'], { encoding: 'utf8', env: forced ? { ...env, PMEM_IS_PMEM_FORCE: '1' } : env });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const c = JSON.parse(r.stdout) as SortResult;
      expect(c.mergeReads).toBe(forced ? 'in place' : 'pread');
      expect([c.threads, c.mergePasses]).toEqual([threads, 1]);
      // Two threads cut the merge into key ranges, except for unique (one thread merges).
      if (threads === 1 || unique) expect(c.mergeRanges).toBe(1);
      else expect(c.mergeRanges).toBeGreaterThan(1);
      expect(c.runs).toBeGreaterThan(2);
      const bytes = fs.readFileSync(out);
      if (unique) expect(bytes.equals(expected)).toBe(true);
      else expect(bytes.equals(gnu(input, ['-k2']))).toBe(true);
      seen.push(`${c.mergeReads}/${c.mergeRanges > 1 ? 'ranges' : 'one'}`);
    }
  }
  expect(new Set(seen)).toEqual(new Set(['pread/one', 'pread/ranges', 'in place/one', 'in place/ranges']));
});

describe('how many threads form and merge the runs', () => {
  const M = 64 * 1024 * 1024;

  test('read in place, the merge takes as many threads as give every run a window of 256 KiB in the budget they leave', () => {
    // Two threads leave 48 MiB (a worker is charged 16), three quarters of
    // it for the sources: 48 runs each read twice through 256 KiB and the
    // 128 KiB mapped around it fit, 49 do not.
    expect(mergeThreadsFor(M, 48, 2, true)).toBe(2);
    expect(mergeThreadsFor(M, 49, 2, true)).toBe(1);
    expect(mergeThreadsFor(M, 34, 8, true)).toBe(2);
    // Four threads leave 16 MiB (12 for sources): 10 runs each read 4 times
    // take 15 MiB; three leave 32 (24), and take 11.25.
    expect(mergeThreadsFor(M, 10, 8, true)).toBe(3);
    // However many runs, one thread merges them.
    expect(mergeThreadsFor(M, 100000, 2, true)).toBe(1);
    expect(mergeThreadsFor(128 * 1024, 2, 2, true)).toBe(1);
  });

  test('read with pread, the merge takes as many threads as give every run a window of 16 KiB in their part of the run buffers\' input chunk', () => {
    // Run buffers for two threads have 48 MiB (a worker is charged 16), 40%
    // of it the input chunk: 20,132,659 bytes, 10,066,329 a thread's half.
    // 614 runs read twice through 16 KiB fit, 615 do not.
    expect(mergeThreadsFor(M, 614, 2, false)).toBe(2);
    expect(mergeThreadsFor(M, 615, 2, false)).toBe(1);
    // For three threads, 32 MiB and a chunk of 13,421,772 bytes: a third of
    // it holds 273 windows, a half 409.
    expect(mergeThreadsFor(M, 273, 3, false)).toBe(3);
    expect(mergeThreadsFor(M, 274, 3, false)).toBe(2);
    expect(mergeThreadsFor(M, 409, 3, false)).toBe(2);
    expect(mergeThreadsFor(M, 410, 3, false)).toBe(1);
    expect(mergeThreadsFor(M, 100000, 2, false)).toBe(1);
  });

  test('a PMem source\'s window is its share of the budget less what is mapped around it, 64 KiB to 1 MiB', () => {
    expect(pmemWindow(M, 161)).toBe(Math.floor((M * 0.75) / 161) - 128 * 1024);
    expect(pmemWindow(M, 427)).toBe(64 * 1024);
    expect(pmemWindow(M, 13)).toBe(1024 * 1024);
    expect(pmemWindow(M, 0)).toBe(1024 * 1024);
  });

  test('a source reading with pread gets its share of its thread\'s arena, 4 KiB to 1 MiB; the windows are the arena\'s bytes when they fit it', () => {
    const A = 10066329;
    expect(readWindow(A, 543)).toBe(Math.floor(A / 543));
    expect(readWindow(A, 100000)).toBe(4096);
    expect(readWindow(A, 9)).toBe(1024 * 1024);
    expect(readWindow(A, 0)).toBe(1024 * 1024);
    const arena = Buffer.alloc(64 * 1024);
    const fits = readWindows(arena, 16 * 4096);
    expect([fits.buffer, fits.byteOffset, fits.length]).toEqual([arena.buffer, arena.byteOffset, 16 * 4096]);
    // More runs than the arena holds at 4 KiB each: a buffer of their own.
    const over = readWindows(arena, 17 * 4096);
    expect(over.length).toBe(17 * 4096);
    expect(over.buffer).not.toBe(arena.buffer);
  });

  test('a sort not told how many threads forms runs on fewer when more would make runs one thread cannot merge well', () => {
    // Read in place: 4 GiB of 100-byte records in 64 MiB make 161 runs of
    // 25.6 MB on one thread (fit), 427 of 9.6 MB on two (do not).
    expect(formingThreadsFor(M, 2, 100, 0, 4 * 1024 ** 3, true)).toBe(1);
    expect(formingThreadsFor(M, 2, 100, 0, 256 * 1024 ** 2, true)).toBe(2);
    // Runs already formed count (a resumed sort).
    expect(formingThreadsFor(M, 2, 100, 150, 256 * 1024 ** 2, true)).toBe(1);
    expect(formingThreadsFor(M, 2, 0, 0, 1024 ** 3, true)).toBe(2);
    expect(formingThreadsFor(M, 8, 0, 0, 0, true)).toBe(8);
    // Read with pread, 16 KiB windows in two threads' input chunk
    // (20,132,659 bytes) take 1,228 runs: the 427 of two threads fit at
    // 4 GiB, their 1,707 at 16 GiB do not (one thread makes 640); 802 runs
    // already formed and 427 more do not either, 801 do.
    expect(formingThreadsFor(M, 2, 100, 0, 4 * 1024 ** 3, false)).toBe(2);
    expect(formingThreadsFor(M, 2, 100, 0, 16 * 1024 ** 3, false)).toBe(1);
    expect(formingThreadsFor(M, 2, 100, 802, 4 * 1024 ** 3, false)).toBe(1);
    expect(formingThreadsFor(M, 2, 100, 801, 4 * 1024 ** 3, false)).toBe(2);
  });

  test('parallel not given: fewer threads when the runs would be too many; given: as many, and the merge on one', () => {
    const input = file('many-runs.txt');
    generate('text', 900 * 1024, input, 12);
    const expected = gnu(input, []);
    // 128 KiB cannot give two threads' runs (about 45) windows of 256 KiB.
    const auto = externalSort(input, file('auto.txt'), { memory: MEMORY });
    expect(auto.threads).toBe(1);
    // DRAM merge buffers: as many threads as the budget allows (threadsFor) for the CPUs.
    const dram = externalSort(input, file('dram.txt'), { memory: MEMORY, mergeBuffers: 'dram' });
    expect(dram.threads).toBe(threadsFor(MEMORY, Math.min(8, os.availableParallelism()), 0));
    const asked = externalSort(input, file('asked.txt'), { memory: MEMORY, parallel: 2 });
    expect([asked.threads, asked.mergeRanges]).toEqual([2, 1]);
    for (const name of ['auto.txt', 'dram.txt', 'asked.txt']) expect(fs.readFileSync(file(name)).equals(expected)).toBe(true);
  });
});

test('a sort stopped after any checkpoint of a parallel phase resumes, on one thread or two, to the same output', () => {
  const input = file('resume.txt');
  generate('text', 10 * 1024 * 1024, input, 9);
  const options: SortOptions = { memory: BIG_MEMORY, checkpointBytes: 512 * 1024, keys: [parseKey('2')], stable: true };
  const out = file('resume.out');
  const phases: string[] = [];
  const first = externalSort(input, out, { ...options, parallel: 2, onCheckpoint: (i) => phases.push(i.phase) });
  const expected = fs.readFileSync(out);
  // One checkpoint per run, and per range of the merge (the first range's
  // is the one that ends run formation; the last's is 'done'), whichever
  // thread finishes first: every stop below is reached.
  expect(first.mergeRanges).toBeGreaterThan(1);
  expect(phases.filter((p) => p === 'runs').length).toBe(first.runs);
  expect(phases.filter((p) => p === 'merge').length).toBe(first.mergeRanges);
  expect(expected.equals(gnu(input, ['-s', '-k2']))).toBe(true);
  const work = `${out}.pmem-sort`;
  let stops = 0;
  for (let stopAt = 1; stopAt < phases.length; stopAt += 2) {
    fs.rmSync(out, { force: true });
    let seen = 0;
    expect(() => externalSort(input, out, { ...options, parallel: 2, onCheckpoint: () => {
      if (++seen === stopAt) throw new Error('stopped');
    } })).toThrow('stopped');
    expect(fs.existsSync(out)).toBe(false);
    stops++;
    const r = externalSort(input, out, { ...options, resume: true, parallel: stopAt % 4 === 1 ? 2 : 1 });
    expect(r.resumed).toBe(true);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(fs.existsSync(work)).toBe(false);
  }
  // Stops in both phases: in run formation, and between the merge's ranges.
  expect(phases.filter((p) => p === 'runs').length).toBeGreaterThan(4);
  expect(phases.filter((p) => p === 'merge').length).toBeGreaterThan(3);
  expect(stops).toBeGreaterThan(8);
});

test('a worker\'s error is the PmemError one thread would raise, the workers stop, and the sort resumes', () => {
  const input = file('space.txt');
  generate('text', 400 * 1024, input, 8);
  const expected = gnu(input, []);
  const mnt = mountTmpfs('4096k', 'a full disk');
  if (mnt === null) return;
  try {
    const errors: PmemError[] = [];
    for (const threads of [1, 2]) {
      const work = path.join(mnt, `work-${threads}`);
      // The disk fills once two runs are named: the third run, run-2, is the
      // first not written. On two threads a worker forms it (runs go to the
      // worker and the main thread in turn), while the main thread forms
      // run-3, which fails too, later in input order.
      let runs = 0;
      let error: unknown;
      try {
        externalSort(input, path.join(mnt, `out-${threads}.txt`), {
          memory: MEMORY, pmem: work, parallel: threads,
          onCheckpoint: (i) => { if (i.phase === 'runs' && ++runs === 2) fillFilesystem(path.join(mnt, 'filler')); },
        });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PmemError);
      errors.push(error as PmemError);
      fs.rmSync(path.join(mnt, 'filler'));
      const r = externalSort(input, path.join(mnt, `out-${threads}.txt`), { memory: MEMORY, pmem: work, parallel: 2, resume: true });
      expect(r.resumed).toBe(true);
      expect(fs.readFileSync(path.join(mnt, `out-${threads}.txt`)).equals(expected)).toBe(true);
      fs.rmSync(path.join(mnt, `out-${threads}.txt`));
    }
    expect(errors[1].code).toBe('ERR_PMEM_NO_SPACE');
    expect(errors[1].code).toBe(errors[0].code);
    expect(errors[1].message.replace('work-2', 'work-1')).toBe(errors[0].message);
    expect(errors[1].message).toContain('run-2');
  } finally {
    unmount(mnt);
  }
});

// The external sort under a low limit on open files (`ulimit -n`): every
// run is open in the merge, once per merging thread, so a sort of more runs
// than the limit lets merges part of them first, or merges on fewer
// threads, and one that cannot open two says so and resumes once the limit
// is raised. Each sort runs in a child whose limit the test sets: the hard
// one with the soft, since Node raises its soft limit to the hard one as it
// starts.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { descriptorsLeft, openFiles, openFilesLimit } from '../lib/core/descriptors';
import type { SortOptions, SortResult } from '../lib';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

const CHILD = path.join(__dirname, 'fixtures', 'sort', 'limited.js');
const MEMORY = 128 * 1024;
/** What merge-phase.ts keeps for other files (DESCRIPTORS_KEPT), and two per thread. */
const KEPT = 32;

let dir = '';
let input = '';
let expected: Buffer;
beforeAll(() => {
  dir = path.join(testDir(), `sort-fd-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  input = path.join(dir, 'in.txt');
  generate('text', 8 * 1024 * 1024, input, 3);
  expected = execFileSync('sort', [input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 26 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Child {
  open: number;
  limit: number | null;
  /** Descriptors the child opened itself in the sort's onProgress (hogIn). */
  hogged?: number;
  result?: SortResult;
  error?: { name: string; code: string; errno?: number; syscall?: string; path?: string; message: string };
}

/** One sort in a child under a limit of `limit` open files (none: the machine's). */
function sortIn(limit: number | null, options: SortOptions, env: NodeJS.ProcessEnv = {}, stopInPass = false, hogIn?: string): Child {
  const output = path.join(dir, 'out.txt');
  const arg = JSON.stringify({ input, output, options: { memory: MEMORY, ...options }, stopInPass, hogIn });
  const script = limit === null ? 'exec "$0" "$1" "$2"' : `ulimit -n ${limit} && exec "$0" "$1" "$2"`;
  const r = spawnSync('bash', ['-c', script, process.execPath, CHILD, arg], { encoding: 'utf8', env: { ...process.env, ...env } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Child;
}

const output = (): Buffer => fs.readFileSync(path.join(dir, 'out.txt'));

/** The runs each of `threads` threads may hold open, as the sort counts them, for a child that had `open` open. */
const runsAtOnce = (c: Child, threads: number): number => Math.floor(((c.limit as number) - c.open - KEPT - 2 * threads) / threads);

test('the limit and the count of open files are read from /proc', () => {
  const soft = execFileSync('bash', ['-c', 'ulimit -Sn'], { encoding: 'utf8' }).trim();
  expect(openFilesLimit()).toBe(soft === 'unlimited' ? Infinity : Number(soft));
  const before = openFiles();
  const fd = fs.openSync(input, 'r');
  try {
    expect(openFiles()).toBe(before + 1);
    expect(descriptorsLeft()).toBe(openFilesLimit() - before - 1);
  } finally {
    fs.closeSync(fd);
  }
  expect(openFiles()).toBe(before);
});

describe.each<[string, NodeJS.ProcessEnv]>([
  // PMEM_IS_PMEM_FORCE=0: not persistent memory, whatever the pass's mode.
  ['runs read with pread (PMEM_IS_PMEM_FORCE=0)', { PMEM_IS_PMEM_FORCE: '0' }],
  ['runs read in place (PMEM_IS_PMEM_FORCE=1)', { PMEM_IS_PMEM_FORCE: '1' }],
])('%s', (_name, env) => {
  test('more runs than the limit lets open: part of them merged first, and the output is GNU sort\'s', () => {
    const c = sortIn(150, { parallel: 1 }, env);
    const r = c.result as SortResult;
    expect(c.error).toBeUndefined();
    // The case it claims: more runs than one thread may hold open.
    expect(r.runs).toBeGreaterThan(runsAtOnce(c, 1));
    expect(r.mergeReads).toBe(env.PMEM_IS_PMEM_FORCE === '1' ? 'in place' : 'pread');
    expect(r.mergePasses).toBe(2);
    // One group merged into a run first: more temporary bytes than the runs, less than two passes' worth.
    expect(r.tempBytesWritten).toBeGreaterThan(r.inputBytes);
    expect(r.tempBytesWritten).toBeLessThan(2 * r.inputBytes);
    expect(output().equals(expected)).toBe(true);
  });

  test('a sort stopped once the part merged first is published resumes under the same limit to GNU sort\'s output', () => {
    const stopped = sortIn(150, { parallel: 1 }, env, true);
    expect(stopped.error?.message).toBe('stopped in a pass');
    const c = sortIn(150, { parallel: 1, resume: true }, env);
    const r = c.result as SortResult;
    expect(c.error).toBeUndefined();
    expect(r.resumed).toBe(true);
    expect(r.mergePasses).toBe(2);
    expect(output().equals(expected)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'out.txt.pmem-sort'))).toBe(false);
  });
});

test('runs that one thread may hold open and two may not: merged in one pass on one thread', () => {
  // Runs read with pread: under this budget two threads merge 17 runs in
  // key ranges when the limit allows it.
  const options: SortOptions = { memory: 4 * 1024 * 1024, parallel: 2 };
  const pread = { PMEM_IS_PMEM_FORCE: '0' };
  const unlimited = sortIn(null, options, pread);
  const free = unlimited.result as SortResult;
  expect(free.mergeReads).toBe('pread');
  expect(free.mergePasses).toBe(1);
  expect(free.mergeRanges).toBeGreaterThan(1);
  // A limit half way between one thread's need and two threads', with the
  // descriptors the sort keeps.
  const c = sortIn(unlimited.open + KEPT + 4 + Math.round(1.5 * free.runs), options, pread);
  const r = c.result as SortResult;
  expect(c.error).toBeUndefined();
  expect(r.runs).toBe(free.runs);
  expect(r.runs).toBeLessThanOrEqual(runsAtOnce(c, 1));
  expect(r.runs).toBeGreaterThan(runsAtOnce(c, 2));
  expect([r.mergePasses, r.mergeRanges]).toEqual([1, 1]);
  expect(r.tempBytesWritten).toBe(r.inputBytes);
  expect(output().equals(expected)).toBe(true);
});

test('a limit that leaves no two runs open: ERR_PMEM_IO (EMFILE) naming the limit, and the sort resumes once it is raised', () => {
  const c = sortIn(50, { parallel: 1 });
  expect(runsAtOnce(c, 1)).toBeLessThan(2);
  expect(c.error).toMatchObject({ code: 'ERR_PMEM_IO', errno: 24, syscall: 'open' });
  expect(c.error?.message).toMatch(/merge of \d+ runs cannot hold two of them open.*limit of 50 \(ulimit -n\).*raise the limit and resume/);
  // The runs are kept for the resume.
  expect(fs.existsSync(path.join(dir, 'out.txt.pmem-sort'))).toBe(true);
  const r = sortIn(null, { parallel: 1, resume: true }).result as SortResult;
  expect(r.resumed).toBe(true);
  expect(r.mergePasses).toBe(1);
  expect(output().equals(expected)).toBe(true);
  expect(fs.existsSync(path.join(dir, 'out.txt.pmem-sort'))).toBe(false);
});

describe.each<[string, SortOptions]>([
  ['PMem merge buffers', {}],
  ['DRAM merge buffers', { mergeBuffers: 'dram' }],
])('%s', (_name, options) => {
  test('files the application opens after the sort counted them: ERR_PMEM_IO (EMFILE) for the open that fails, and a resume finishes', () => {
    fs.rmSync(path.join(dir, 'out.txt'), { force: true });
    // The first intermediate pass reports its progress; the child then
    // takes every descriptor left, so the sort's next open fails.
    const c = sortIn(150, { parallel: 1, ...options }, { PMEM_IS_PMEM_FORCE: '0' }, false, 'pass');
    expect(c.hogged).toBeGreaterThan(0);
    expect(c.error).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_IO', errno: 24, syscall: 'open' });
    expect(c.error?.path).toContain(path.join(dir, 'out.txt'));
    expect(c.error?.message).toMatch(/^open failed for '.*': too many open files \(EMFILE\)$/);
    expect(fs.existsSync(path.join(dir, 'out.txt'))).toBe(false);
    const r = sortIn(150, { parallel: 1, resume: true, ...options }, { PMEM_IS_PMEM_FORCE: '0' }).result as SortResult;
    expect(r.resumed).toBe(true);
    expect(output().equals(expected)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'out.txt.pmem-sort'))).toBe(false);
  });
});

test('pmem sort under a limit that leaves no two runs open exits 3, naming the limit', () => {
  const out = path.join(dir, 'cli.txt');
  const pmem = path.join(__dirname, '..', 'bin', 'pmem');
  const r = spawnSync('bash', ['-c', 'ulimit -n 50 && exec "$0" sort -S 128K --parallel 1 -o "$1" "$2"', pmem, out, input], { encoding: 'utf8' });
  expect(r.status).toBe(3);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^pmem: .*ERR_PMEM_IO: the merge of \d+ runs cannot hold two of them open.*limit of 50 \(ulimit -n\)/);
  expect(fs.existsSync(out)).toBe(false);
  fs.rmSync(`${out}.pmem-sort`, { recursive: true, force: true });
});

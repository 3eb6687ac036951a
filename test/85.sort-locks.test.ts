// One sort at a time on a pmem directory and on an output: a second sort
// that would share the checkpoint or the partial output fails at once with
// ERR_PMEM_LOCKED (exit 3 from `pmem sort`) and changes nothing of the
// first's, in this process or another; a sort killed with SIGKILL leaves
// no lock behind. And the resume of a sort that was done: its rename is
// not done twice.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, KVStore, PmemError, Wal, type SortOptions } from '../lib';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

const MEMORY = 128 * 1024;
const bin = path.join(__dirname, '..', 'bin', 'pmem');
const dist = path.join(__dirname, '..', 'dist');
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-locks-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

function gnu(input: string): Buffer {
  return execFileSync('sort', [input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 28 });
}

/** Each path, and each file in a directory among them, with a digest of its bytes ('missing' when there is none). */
function snapshot(paths: string[]): Record<string, string> {
  const digest = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const out: Record<string, string> = {};
  for (const p of paths) {
    if (!fs.existsSync(p)) out[p] = 'missing';
    else if (fs.statSync(p).isDirectory()) for (const name of fs.readdirSync(p)) out[path.join(p, name)] = digest(path.join(p, name));
    else out[p] = digest(p);
  }
  return out;
}

/** What `f` threw. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

test('a second sort on the same pmem directory or into the same output, while the first runs, is ERR_PMEM_LOCKED and changes nothing of the first\'s', () => {
  const input = file('first.txt');
  generate('text', 1024 * 1024, input, 31);
  const other = file('second.txt');
  generate('text', 64 * 1024, other, 32);
  const out = file('first.out');
  const partial = `${out}.pmem-sort-partial`;
  const work = file('first.work');
  const options: SortOptions = { memory: MEMORY, pmem: work, parallel: 1, checkpointBytes: 64 * 1024 };
  const otherWork = file('second.work');
  const otherOut = file('second.out');
  const attempts: Array<[string, () => unknown, string]> = [
    ['a second resume of the same sort', () => externalSort(input, out, { ...options, resume: true }), partial],
    ['the same sort, afresh', () => externalSort(input, out, options), partial],
    ['another input into the same output, with a pmem directory of its own', () => externalSort(other, out, { memory: MEMORY, pmem: otherWork }), partial],
    ['another input into another output, in the same pmem directory', () => externalSort(other, otherOut, { memory: MEMORY, pmem: work }), path.join(work, 'checkpoint')],
    // An output that is one of the first sort's files: renamed over, the
    // first would lose its checkpoint or go on writing an unlinked output.
    ['another input into the first\'s checkpoint', () => externalSort(other, path.join(work, 'checkpoint'), { memory: MEMORY, pmem: otherWork }), path.join(work, 'checkpoint')],
    ['another input into the first\'s partial output', () => externalSort(other, partial, { memory: MEMORY, pmem: otherWork }), partial],
    ['another input into one of the first\'s runs', () => externalSort(other, path.join(work, 'run-0'), { memory: MEMORY, pmem: otherWork }), path.join(work, 'run-0')],
  ];
  /** The phases whose first checkpoint the attempts were made at. */
  const phases: string[] = [];
  externalSort(input, out, {
    ...options,
    onCheckpoint: (info) => {
      if (phases.includes(info.phase)) return;
      phases.push(info.phase);
      const before = snapshot([work, partial, out]);
      for (const [name, attempt, locked] of attempts) {
        const e = thrown(attempt);
        expect(e).toBeInstanceOf(PmemError);
        expect([name, (e as PmemError).code, (e as PmemError).path]).toEqual([name, 'ERR_PMEM_LOCKED', locked]);
        expect(snapshot([work, partial, out])).toEqual(before);
      }
      // Nor did the second sorts leave anything of their own.
      expect([otherWork, otherOut, `${otherOut}.pmem-sort-partial`, `${partial}.pmem-sort-partial`, path.join(work, 'run-0.pmem-sort-partial')]
        .filter((f) => fs.existsSync(f))).toEqual([]);
    },
  });
  // Tried while the runs were formed, during the merge, and once the output was whole.
  expect(phases).toEqual(['runs', 'merge', 'done']);
  expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
  expect(fs.existsSync(work)).toBe(false);
  // The locks went with the sort.
  externalSort(other, out, { memory: MEMORY, pmem: otherWork });
  expect(fs.readFileSync(out).equals(gnu(other))).toBe(true);
});

test('`pmem sort` beside a sort in another process exits 3 (ERR_PMEM_LOCKED); a SIGKILL drops the locks, and the resume completes', async () => {
  const input = file('killed.txt');
  generate('text', 1024 * 1024, input, 33);
  const other = file('killed-other.txt');
  generate('text', 64 * 1024, other, 34);
  const out = file('killed.out');
  const work = file('killed.work');
  const ready = file('killed.ready');
  // A sort that stops, holding its locks, at its first merge checkpoint, and
  // says so with a file.
  const child = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const { externalSort } = require(${JSON.stringify(dist)});
    externalSort(${JSON.stringify(input)}, ${JSON.stringify(out)}, {
      memory: ${MEMORY}, pmem: ${JSON.stringify(work)}, parallel: 1, checkpointBytes: 64 * 1024,
      onCheckpoint: (info) => {
        if (info.phase !== 'merge') return;
        fs.writeFileSync(${JSON.stringify(ready)}, '');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      },
    });`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  try {
    for (const deadline = Date.now() + 60000; !fs.existsSync(ready);) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('the sort did not reach its merge');
      await new Promise((r) => setTimeout(r, 20));
    }
    const pmem = (args: string[]): { code: number | null; err: string } => {
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', ...args], { encoding: 'utf8' });
      return { code: r.status, err: r.stderr };
    };
    const partial = `${out}.pmem-sort-partial`;
    const before = snapshot([work, partial, out]);
    expect(pmem(['--pmem', work, '--resume', input, '-o', out])).toEqual({
      code: 3, err: `pmem: ERR_PMEM_LOCKED: another sort is writing ${out} (it holds ${partial})\n`,
    });
    expect(pmem(['--pmem', file('killed-other.work'), other, '-o', out]).code).toBe(3);
    expect(pmem(['--pmem', work, other, '-o', file('killed-other.out')])).toEqual({
      code: 3, err: `pmem: ERR_PMEM_LOCKED: another sort is using the pmem directory ${work} (it holds ${path.join(work, 'checkpoint')})\n`,
    });
    expect(snapshot([work, partial, out])).toEqual(before);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('killed-other.'))).toEqual(['killed-other.txt']);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const r = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '--pmem', work, '--resume', '--json', input, '-o', out], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect((JSON.parse(r.stdout) as { resumed: boolean }).resumed).toBe(true);
    expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
    expect(fs.existsSync(work)).toBe(false);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('the resume of a sort stopped after its \'done\' checkpoint publishes the output once: before the rename, after it, and between a link and an unlink', () => {
  const input = file('done.txt');
  generate('text', 256 * 1024, input, 35);
  const expected = gnu(input);
  const out = file('done.out');
  const partial = `${out}.pmem-sort-partial`;
  for (const crashed of ['before', 'renamed', 'linked']) {
    fs.rmSync(out, { force: true });
    let phase = '';
    expect(() => externalSort(input, out, {
      memory: MEMORY, onCheckpoint: (info) => {
        phase = info.phase;
        if (phase === 'done') throw new Error('stop');
      },
    })).toThrow('stop');
    expect(phase).toBe('done');
    // A crash between the rename and the removal of the work files; or,
    // for a new output, between its link and the partial output's unlink.
    if (crashed === 'renamed') fs.renameSync(partial, out);
    if (crashed === 'linked') fs.linkSync(partial, out);
    const r = externalSort(input, out, { memory: MEMORY, resume: true });
    expect(r.resumed).toBe(true);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(fs.existsSync(partial)).toBe(false);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  }
});

test('an output that a writer holds (a KVStore in another process, a Wal in this one) is ERR_PMEM_LOCKED before anything is made; its writes all stay', async () => {
  const input = file('held.txt');
  fs.writeFileSync(input, 'b\na\nc\n');
  const store = file('held.kv');
  const ready = file('held.ready');
  // A writer that holds the store open, writes one key when told (on stdin),
  // and closes on end of input.
  const child = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const { KVStore } = require(${JSON.stringify(dist)});
    const s = KVStore.open(${JSON.stringify(store)}, { create: true, size: 16 << 20 });
    s.put('before', '1');
    fs.writeFileSync(${JSON.stringify(ready)}, '');
    process.stdin.on('data', () => { s.put('after', '2'); process.stdout.write('ack'); });
    process.stdin.on('end', () => s.close());`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    for (const deadline = Date.now() + 30000; !fs.existsSync(ready);) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('the writer did not open its store');
      await new Promise((r) => setTimeout(r, 20));
    }
    const made = [`${store}.pmem-sort-partial`, `${store}.pmem-sort`];
    const before = snapshot([store, ...made]);
    const e = thrown(() => externalSort(input, store, { memory: MEMORY }));
    expect([(e as PmemError).code, (e as PmemError).path]).toEqual(['ERR_PMEM_LOCKED', store]);
    const r = spawnSync(process.execPath, [bin, 'sort', input, '-o', store], { encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^pmem: ERR_PMEM_LOCKED: the output .*held\.kv is open in another process or handle/);
    // Nothing made beside it (no partial output, no pmem directory), and the store as it was.
    expect(snapshot([store, ...made])).toEqual(before);
    expect(made.filter((f) => fs.existsSync(f))).toEqual([]);
    // The writer goes on, in the file the path names.
    const acked = new Promise((resolve) => child.stdout!.once('data', resolve));
    child.stdin!.write('x');
    await acked;
    child.stdin!.end();
    expect(await exited).toBe(0);
    const s = KVStore.open(store, { readOnly: true });
    expect([s.getString('before'), s.getString('after')]).toEqual(['1', '2']);
    s.close();
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // In this process too, and for a Wal; once closed, the output is replaced as any file is.
  const wal = Wal.open(file('held.wal'), { create: true, size: 1 << 20 });
  const e = thrown(() => externalSort(input, file('held.wal'), { memory: MEMORY }));
  expect((e as PmemError).code).toBe('ERR_PMEM_LOCKED');
  wal.close();
  externalSort(input, store, { memory: MEMORY });
  expect(fs.readFileSync(store, 'utf8')).toBe('a\nb\nc\n');
});

test('an output named as a run of an interrupted sort, in its pmem directory, is ERR_PMEM_INVALID; the resume then completes', () => {
  const input = file('stopped.txt');
  generate('text', 512 * 1024, input, 36);
  const out = file('stopped.out');
  const work = file('stopped.work');
  const options: SortOptions = { memory: MEMORY, pmem: work, parallel: 1, checkpointBytes: 64 * 1024 };
  expect(() => externalSort(input, out, {
    ...options, onCheckpoint: (info) => {
      if (info.phase === 'merge') throw new Error('stop');
    },
  })).toThrow('stop');
  const runs = fs.readdirSync(work).filter((n) => /^run-\d+$/.test(n)).sort();
  expect(runs.length).toBeGreaterThan(1);
  const before = snapshot([work]);
  for (const name of [runs[0], `run-${runs.length + 5}`, 'made-by-sort']) {
    const e = thrown(() => externalSort(input, path.join(work, name), { memory: MEMORY, pmem: file('stopped-other.work') }));
    expect([name, (e as PmemError).code]).toEqual([name, 'ERR_PMEM_INVALID']);
    expect((e as PmemError).message).toMatch(/unfinished sort/);
  }
  expect(snapshot([work])).toEqual(before);
  expect(externalSort(input, out, { ...options, resume: true }).resumed).toBe(true);
  expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
  // Once it is done the directory is no sort's: a file named like a run may be written there.
  fs.mkdirSync(work);
  externalSort(input, path.join(work, 'run-0'), { memory: MEMORY });
  expect(fs.readFileSync(path.join(work, 'run-0')).equals(gnu(input))).toBe(true);
  fs.rmSync(work, { recursive: true });
});
